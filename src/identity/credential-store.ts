import type { Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';
import type { TokenScope } from '../actor.ts';

export interface ApiTokenInfo {
  id: string;
  personId: string;
  userPrincipalName: string;
  name: string;
  scope: TokenScope;
  createdAt: string;
  /** Null: never expires. */
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Queries for sessions and API tokens. Only hashes of secrets are stored. */
export class CredentialStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async insertSession(idHash: string, personId: string, now: Date, expiresAt: Date): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id_hash: idHash,
        person_id: personId,
        created_at: now.toISOString(),
        expires_at: expiresAt.toISOString(),
        last_seen_at: now.toISOString(),
      })
      .execute();
  }

  findSession(idHash: string) {
    return this.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
  }

  async touchSession(idHash: string, now: Date, expiresAt: Date): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_seen_at: now.toISOString(), expires_at: expiresAt.toISOString() })
      .where('id_hash', '=', idHash)
      .execute();
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteExpiredSessions(now: Date): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<', now.toISOString()).execute();
  }

  /** Ends every session of the person (but the one excepted); returns how many. */
  async deleteSessionsOf(personId: string, exceptIdHash?: string): Promise<number> {
    let query = this.db.deleteFrom('sessions').where('person_id', '=', personId);
    if (exceptIdHash) query = query.where('id_hash', '!=', exceptIdHash);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertToken(
    token: { id: string; personId: string; name: string; tokenHash: string; scope: TokenScope; expiresAt: Date | null },
    now: Date,
  ): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: token.id,
        person_id: token.personId,
        name: token.name,
        token_hash: token.tokenHash,
        scope: token.scope,
        created_at: now.toISOString(),
        expires_at: token.expiresAt?.toISOString() ?? null,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
  }

  /** A token not revoked; whether it has expired is the caller's to judge (it says so to the client). */
  async findActiveTokenByHash(tokenHash: string) {
    const row = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'person_id', 'last_used_at', 'scope', 'expires_at'])
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row && { ...row, scope: row.scope as TokenScope };
  }

  async markTokenUsed(id: string, now: Date): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: now.toISOString() }).where('id', '=', id).execute();
  }

  async listTokens(personId?: string): Promise<ApiTokenInfo[]> {
    let query = this.db
      .selectFrom('api_tokens')
      .innerJoin('people', 'people.id', 'api_tokens.person_id')
      .select([
        'api_tokens.id',
        'api_tokens.person_id',
        'people.user_principal_name',
        'api_tokens.name',
        'api_tokens.scope',
        'api_tokens.created_at',
        'api_tokens.expires_at',
        'api_tokens.last_used_at',
        'api_tokens.revoked_at',
      ])
      .orderBy('api_tokens.created_at');
    if (personId) query = query.where('api_tokens.person_id', '=', personId);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: r.id,
      personId: r.person_id,
      userPrincipalName: r.user_principal_name,
      name: r.name,
      scope: r.scope as TokenScope,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    }));
  }

  findToken(id: string) {
    return this.db.selectFrom('api_tokens').select(['id', 'person_id', 'name', 'revoked_at']).where('id', '=', id).executeTakeFirst();
  }

  async revokeToken(id: string, now: Date): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now.toISOString() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Revokes every token of the person not revoked yet; returns how many. */
  async revokeTokensOf(personId: string, now: Date): Promise<number> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now.toISOString() })
      .where('person_id', '=', personId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Tokens of the person that still work: neither revoked nor expired. */
  async countUsableTokensOf(personId: string, now: Date): Promise<number> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('person_id', '=', personId)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now.toISOString())]))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * The key that binds CSRF tokens to sessions. Made once per installation and kept in the database,
   * so every server process accepts the tokens the others hand out.
   */
  async csrfKey(candidate: string, now: Date): Promise<string> {
    await this.db
      .insertInto('settings')
      .values({ key: 'csrf-hmac-key', value: candidate, updated_at: now.toISOString(), updated_by: null })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', 'csrf-hmac-key').executeTakeFirstOrThrow();
    return row.value;
  }
}
