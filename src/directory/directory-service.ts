import { randomUUID } from 'node:crypto';
import { InvalidInput, AlreadyExists, hasControlCharacters, shown, UserNotFound } from '../errors.ts';
import { isUniqueViolation } from '../storage/index.ts';
import { TtlCache } from '../ttl-cache.ts';
import { parseCsv, CsvSyntaxError } from './csv.ts';
import { displayNameFromUpn, isValidUserPrincipalName, ROLES, type NewPerson, type Person, type Role } from './person.ts';
import type { PeopleQuery, PeopleStore } from './people-store.ts';
import type { Schema } from '../storage/index.ts';
import type { Transaction } from 'kysely';

export const DIRECTORY_PHOTO_MAX_BYTES = 100 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAIL = /^[^@\s]+@[^@\s]+$/;

export type PeopleImportOutcome = 'created' | 'updated' | 'unchanged' | 'failed';

export interface PeopleImportReport {
  rows: { line: number; userPrincipalName: string; outcome: PeopleImportOutcome; message?: string }[];
  counts: Record<PeopleImportOutcome, number>;
  dryRun: boolean;
}

export class DirectoryService {
  /** Hot lookups by id/UPN for API reads; only found people are cached, and every write here clears it. */
  private readonly found = new TtlCache<string, Person>(5000, 10_000);

  constructor(
    private readonly people: PeopleStore,
    private readonly now: () => Date = () => new Date(),
    private readonly newId: () => string = randomUUID,
  ) {}

  async addPerson(input: NewPerson): Promise<Person> {
    const person = this.validateNewPerson(input);
    try {
      await this.people.insert({ ...person, id: this.newId(), passwordHash: input.passwordHash ?? null }, this.now());
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AlreadyExists(`A person with the user principal name ${person.userPrincipalName} already exists.`);
      throw error;
    }
    return (await this.people.findByUpn(person.userPrincipalName))!;
  }

  /** Graph addresses people by id or by userPrincipalName. */
  async findPerson(idOrUpn: string): Promise<Person | undefined> {
    // No stored id or name has control characters (and PostgreSQL refuses a NUL in a query).
    if (hasControlCharacters(idOrUpn) || idOrUpn.length > 1000) return undefined;
    const key = idOrUpn.toLowerCase();
    const cached = this.found.get(key);
    if (cached) return cached;
    const person = UUID.test(key) ? await this.people.findById(key) : await this.people.findByUpn(key);
    if (person) this.found.set(key, person);
    return person;
  }

  /** The person findPerson found in the last few seconds, from memory only (the hot photo reads' fast path). */
  peekPerson(idOrUpn: string): Person | undefined {
    return this.found.get(idOrUpn.toLowerCase());
  }

  /** As peekPerson, for a name findByUpnOrMail looked up. */
  peekByUpnOrMail(name: string): Person | undefined {
    return this.found.get(`name:${name.toLowerCase()}`);
  }

  async getPerson(idOrUpn: string): Promise<Person> {
    const person = await this.findPerson(idOrUpn);
    if (!person) throw new UserNotFound(idOrUpn);
    return person;
  }

  /**
   * Sign-in and SharePoint's accountname accept the UPN or the mail address. `fresh` skips the cache
   * (sign-in: a person enabled or disabled a moment ago by another process, the CLI, counts at once).
   */
  async findByUpnOrMail(name: string, options: { fresh?: boolean } = {}): Promise<Person | undefined> {
    if (hasControlCharacters(name) || name.length > 1000) return undefined;
    const key = `name:${name.toLowerCase()}`;
    const cached = options.fresh ? undefined : this.found.get(key);
    if (cached) return cached;
    const person = (await this.people.findByUpn(name)) ?? (await this.people.findByMail(name));
    if (person) this.found.set(key, person);
    return person;
  }

  listPeople(options: { limit?: number; offset?: number } = {}): Promise<Person[]> {
    return this.people.list({ limit: options.limit ?? 1000, offset: options.offset ?? 0 });
  }

  async hasEnabledAdmin(): Promise<boolean> {
    return (await this.people.countAdmins()) > 0;
  }

  /** Admins who can sign in: the last one may not be disabled, removed or demoted. */
  countEnabledAdmins(): Promise<number> {
    return this.people.countAdmins();
  }

  /** Read from the database, never the cache: for rules that must see the latest state. */
  findPersonFresh(personId: string): Promise<Person | undefined> {
    return this.people.findById(personId);
  }

  searchPeople(query: PeopleQuery): Promise<Person[]> {
    return this.people.search(query);
  }

  async setEnabled(personId: string, enabled: boolean): Promise<void> {
    await this.people.setEnabled(personId, enabled, this.now());
    this.found.clear();
  }

  /** A new display name or mail address (null: none), checked as when the person was added. */
  async updateDetails(personId: string, details: { displayName?: string | undefined; mail?: string | null | undefined }): Promise<void> {
    const changes: { displayName?: string; mail?: string | null } = {};
    if (details.displayName !== undefined) {
      if (hasControlCharacters(details.displayName))
        throw new InvalidInput(`The display name "${shown(details.displayName)}" has control characters; use plain text.`);
      const displayName = details.displayName.trim().slice(0, 256);
      if (!displayName) throw new InvalidInput('A display name cannot be empty.');
      changes.displayName = displayName;
    }
    if (details.mail !== undefined) changes.mail = details.mail === null ? null : checkedMail(details.mail) || null;
    await this.people.update(personId, changes, this.now());
    this.found.clear();
  }

  /** Deletes the person and everything that hangs on them (see PeopleStore.delete); false if already gone. */
  async removePerson(personId: string, alsoInTransaction: (trx: Transaction<Schema>) => Promise<void>): Promise<boolean> {
    const removed = await this.people.delete(personId, alsoInTransaction);
    this.found.clear();
    return removed;
  }

  /** Another process changed people (disabled, removed, renamed): the next lookups go to the database. */
  forgetCachedPeople(): void {
    this.found.clear();
  }

  findPasswordHash(personId: string): Promise<string | null> {
    return this.people.findPasswordHash(personId);
  }

  async setPasswordHash(personId: string, hash: string, mustChange: boolean): Promise<void> {
    await this.people.setPasswordHash(personId, hash, mustChange, this.now());
    this.found.clear();
  }

  async setRole(personId: string, role: Role): Promise<void> {
    if (!ROLES.includes(role)) throw new InvalidInput(`"${role}" is not a role; use one of ${ROLES.join(', ')}.`);
    await this.people.update(personId, { role }, this.now());
    this.found.clear();
  }

  /** The directory's own photo (AD thumbnailPhoto). Sites never reads it; Mail is Sites' only source. */
  async setDirectoryPhoto(personId: string, bytes: Buffer | null): Promise<void> {
    if (bytes && bytes.length > DIRECTORY_PHOTO_MAX_BYTES) {
      throw new InvalidInput(
        `A directory photo can be at most ${DIRECTORY_PHOTO_MAX_BYTES / 1024} KB (this one is ${Math.ceil(bytes.length / 1024)} KB).`,
      );
    }
    await this.people.setDirectoryPhoto(personId, bytes, this.now());
  }

  /**
   * Adds or updates people from CSV with the header `userPrincipalName,displayName,mail,role`.
   * Each bad row is reported with its line number; the good rows still go in (unless dryRun). No
   * row is ever half-stored, and no failure ends the import part-way without a report.
   */
  async importPeopleFromCsv(text: string, options: { dryRun: boolean }): Promise<PeopleImportReport> {
    let records;
    try {
      records = parseCsv(text);
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw new InvalidInput(`The CSV file cannot be read: ${error.message}.`);
      throw error;
    }
    const [header, ...rows] = records;
    const columns = header?.fields.map((f) => f.trim()) ?? [];
    const index = (name: string) => columns.findIndex((c) => c.toLowerCase() === name.toLowerCase());
    const upnColumn = index('userPrincipalName');
    if (upnColumn < 0) {
      throw new InvalidInput('The CSV file needs a header line with the columns userPrincipalName,displayName,mail,role.');
    }
    const column = (fields: string[], name: string) => {
      const i = index(name);
      return i < 0 ? undefined : fields[i]?.trim() || undefined;
    };

    const report: PeopleImportReport = { rows: [], counts: { created: 0, updated: 0, unchanged: 0, failed: 0 }, dryRun: options.dryRun };
    const seen = new Set<string>();
    for (const { line, fields } of rows) {
      const upn = fields[upnColumn]?.trim() ?? '';
      const record = (outcome: PeopleImportOutcome, message?: string) => {
        report.rows.push({ line, userPrincipalName: upn, outcome, ...(message && { message }) });
        report.counts[outcome]++;
      };
      if (fields.length !== columns.length) {
        record('failed', `expected ${columns.length} fields, found ${fields.length}`);
        continue;
      }
      if (seen.has(upn.toLowerCase())) {
        record('failed', `${upn} appears more than once in the file`);
        continue;
      }
      seen.add(upn.toLowerCase());
      try {
        const input = this.validateNewPerson({
          userPrincipalName: upn,
          displayName: column(fields, 'displayName'),
          mail: column(fields, 'mail'),
          role: column(fields, 'role') as Role | undefined,
        });
        const existing = await this.people.findByUpn(upn);
        if (!existing) {
          if (!options.dryRun) await this.people.insert({ ...input, id: this.newId(), passwordHash: null }, this.now());
          record('created');
        } else if (existing.role === 'admin' && input.role !== 'admin' && existing.enabled && (await this.people.countAdmins()) <= 1) {
          record('failed', `${shown(upn)} is the last enabled admin and stays one; make someone else an admin first`);
        } else if (existing.displayName === input.displayName && existing.mail === (input.mail || null) && existing.role === input.role) {
          record('unchanged');
        } else {
          if (!options.dryRun) {
            await this.people.update(
              existing.id,
              { displayName: input.displayName, mail: input.mail || null, role: input.role },
              this.now(),
            );
            this.found.clear();
          }
          record('updated');
        }
      } catch (error) {
        // Each row is one statement, so it is in or out whole; whatever stops it is that row's
        // failure, reported like a bad value, and the rows after it still get their turn.
        if (error instanceof InvalidInput) record('failed', error.message);
        else if (isUniqueViolation(error)) record('failed', `${shown(upn)} was added by someone else meanwhile`);
        else record('failed', `could not be saved: ${shown(error instanceof Error ? error.message : String(error), 200)}`);
      }
    }
    return report;
  }

  private validateNewPerson(input: NewPerson): Required<Omit<NewPerson, 'passwordHash'>> {
    const userPrincipalName = input.userPrincipalName.trim();
    if (!isValidUserPrincipalName(userPrincipalName)) {
      throw new InvalidInput(`"${shown(userPrincipalName)}" is not a valid user principal name (expected name@domain).`);
    }
    if (input.displayName !== undefined && hasControlCharacters(input.displayName)) {
      throw new InvalidInput(`The display name "${shown(input.displayName)}" has control characters; use plain text.`);
    }
    const displayName = (input.displayName?.trim() || displayNameFromUpn(userPrincipalName)).slice(0, 256);
    const mail = checkedMail(input.mail ?? '');
    const role = input.role ?? 'user';
    if (!ROLES.includes(role)) throw new InvalidInput(`"${shown(role)}" is not a role; use one of ${ROLES.join(', ')}.`);
    return { userPrincipalName, displayName, mail, role, mustChangePassword: input.mustChangePassword ?? false };
  }
}

/** A mail address as given (trimmed), or '' for none; a bad one is a 400 that quotes it. */
function checkedMail(value: string): string {
  const mail = value.trim();
  if (mail && hasControlCharacters(mail))
    throw new InvalidInput(`"${shown(mail)}" is not a valid mail address: it has control characters.`);
  if (mail && !MAIL.test(mail)) throw new InvalidInput(`"${shown(mail)}" is not a valid mail address.`);
  return mail;
}
