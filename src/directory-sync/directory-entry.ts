import { createHash } from 'node:crypto';
import type { LdapAttributeMapping, LdapDisabledRule } from '../config.ts';
import { hasControlCharacters, shown } from '../errors.ts';
import { detectImageFormat } from '../imaging/index.ts';

/** An entry as ldapts hands it over: attribute name → values (Buffers for the binary ones). */
export type RawEntry = { dn: string } & Record<string, Buffer | Buffer[] | string[] | string>;

/** What photosync takes from one directory entry. */
export interface DirectoryEntry {
  dn: string;
  stableId: string;
  changedAt: string | null;
  userPrincipalName: string;
  displayName: string | undefined;
  mail: string | undefined;
  photo: Buffer | null;
  disabled: boolean;
}

export type MappedEntry =
  { ok: true; entry: DirectoryEntry } | { ok: false; dn: string; userPrincipalName: string | undefined; reason: string };

/** Longest UPN, display name or mail address taken from the directory (as the people table allows). */
export const MAX_TEXT_LENGTH = 256;
/** Active Directory's userAccountControl flag ACCOUNTDISABLE. */
const ACCOUNT_DISABLE = 2;
const UPN = /^[^@\s]+@[^@\s]+$/;

/** Attribute names are case-insensitive in LDAP; ldapts keys them as the server spells them. */
function valuesOf(raw: RawEntry, attribute: string): (string | Buffer)[] {
  const wanted = attribute.toLowerCase();
  for (const [key, value] of Object.entries(raw)) {
    if (key.toLowerCase() !== wanted || key === 'dn') continue;
    return Array.isArray(value) ? value : [value];
  }
  return [];
}

function firstText(raw: RawEntry, attribute: string): string | undefined {
  const value = valuesOf(raw, attribute)[0];
  if (value === undefined) return undefined;
  return (Buffer.isBuffer(value) ? value.toString('utf8') : value).trim() || undefined;
}

/** entryUUID is text; objectGUID is 16 bytes, kept as hex. */
function stableIdOf(raw: RawEntry, attribute: string): string | undefined {
  const value = valuesOf(raw, attribute)[0];
  if (value === undefined) return undefined;
  if (!Buffer.isBuffer(value)) return value.trim() || undefined;
  if (value.length === 0) return undefined;
  const text = value.toString('utf8');
  return /^[\x21-\x7e]+$/.test(text) ? text : `hex:${value.toString('hex')}`;
}

function isDisabled(raw: RawEntry, rule: LdapDisabledRule): boolean {
  if (rule.kind === 'none') return false;
  if (rule.kind === 'userAccountControl') {
    const flags = Number(firstText(raw, 'userAccountControl'));
    return Number.isInteger(flags) && (flags & ACCOUNT_DISABLE) !== 0;
  }
  const wanted = rule.value.toLowerCase();
  return valuesOf(raw, rule.attribute).some(
    (value) => (Buffer.isBuffer(value) ? value.toString('utf8') : value).trim().toLowerCase() === wanted,
  );
}

/** Text a person will see: no control characters, not too long. Returns why not, or undefined. */
function textProblem(what: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (hasControlCharacters(value)) return `the ${what} "${shown(value)}" has control characters`;
  if (value.length > MAX_TEXT_LENGTH) return `the ${what} is ${value.length} characters long (at most ${MAX_TEXT_LENGTH})`;
  return undefined;
}

/**
 * Maps one entry, or says in words why it cannot be used (no UPN, a value too long or with control
 * characters, a photo that is not an image): such an entry is skipped and the sync goes on.
 */
export function mapEntry(raw: RawEntry, attributes: LdapAttributeMapping, disabledRule: LdapDisabledRule): MappedEntry {
  const userPrincipalName = firstText(raw, attributes.userPrincipalName);
  const skip = (reason: string): MappedEntry => ({ ok: false, dn: raw.dn, userPrincipalName, reason });
  const stableId = stableIdOf(raw, attributes.stableId);
  if (!stableId) return skip(`it has no ${attributes.stableId} (the stable id photosync follows entries by)`);
  if (stableId.length > 200) return skip(`its ${attributes.stableId} is longer than 200 characters`);
  if (userPrincipalName === undefined)
    return skip(`it has no ${attributes.userPrincipalName} (the user principal name people sign in with)`);
  const displayName = firstText(raw, attributes.displayName);
  const mail = firstText(raw, attributes.mail);
  const problem =
    textProblem('user principal name', userPrincipalName) ?? textProblem('display name', displayName) ?? textProblem('mail address', mail);
  if (problem) return skip(problem);
  if (!UPN.test(userPrincipalName)) return skip(`the user principal name "${shown(userPrincipalName)}" does not look like name@domain`);
  if (mail !== undefined && !UPN.test(mail)) return skip(`the mail address "${shown(mail)}" does not look like name@domain`);
  const photoValue = valuesOf(raw, attributes.photo)[0];
  const photo = photoValue === undefined ? null : Buffer.isBuffer(photoValue) ? photoValue : Buffer.from(photoValue, 'binary');
  if (photo !== null && photo.length > 0 && detectImageFormat(photo) === undefined) {
    return skip(`its ${attributes.photo} (${photo.length} bytes) is not an image`);
  }
  return {
    ok: true,
    entry: {
      dn: raw.dn,
      stableId,
      changedAt: firstText(raw, attributes.changedAt) ?? null,
      userPrincipalName,
      displayName,
      mail,
      photo: photo !== null && photo.length > 0 ? photo : null,
      disabled: isDisabled(raw, disabledRule),
    },
  };
}

/**
 * What decides "unchanged" besides the photo. The change timestamp alone is not enough: OpenLDAP's
 * modifyTimestamp and AD's whenChanged count whole seconds, so two changes within one second look
 * the same; the values themselves do not.
 */
export function valuesHashOf(entry: DirectoryEntry): string {
  return createHash('sha256')
    .update(JSON.stringify([entry.userPrincipalName, entry.displayName ?? null, entry.mail ?? null, entry.disabled, entry.dn]))
    .digest('hex');
}

export function photoHashOf(photo: Buffer | null): string | null {
  return photo === null ? null : createHash('sha256').update(photo).digest('hex');
}
