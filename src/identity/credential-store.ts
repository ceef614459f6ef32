import type { Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';

export interface ApiTokenInfo {
  id: string;
  personId: string;
  userPrincipalName: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Queries for sessions and API tokens. Only hashes of secrets are stored. */
export class CredentialStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async insertSession(idHash: string, personId: string, now: Date, expiresAt: Date): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({ id_hash: idHash, person_id: personId, created_at: now.toISOString(), expires_at: expiresAt.toISOString(), last_seen_at: now.toISOString() })
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

  async deleteSessionsOf(personId: string, exceptIdHash?: string): Promise<void> {
    let query = this.db.deleteFrom('sessions').where('person_id', '=', personId);
    if (exceptIdHash) query = query.where('id_hash', '!=', exceptIdHash);
    await query.execute();
  }

  async insertToken(token: { id: string; personId: string; name: string; tokenHash: string }, now: Date): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({ id: token.id, person_id: token.personId, name: token.name, token_hash: token.tokenHash, created_at: now.toISOString(), last_used_at: null, revoked_at: null })
      .execute();
  }

  findActiveTokenByHash(tokenHash: string) {
    return this.db
      .selectFrom('api_tokens')
      .select(['id', 'person_id', 'last_used_at'])
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
  }

  async markTokenUsed(id: string, now: Date): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: now.toISOString() }).where('id', '=', id).execute();
  }

  async listTokens(personId?: string): Promise<ApiTokenInfo[]> {
    let query = this.db
      .selectFrom('api_tokens')
      .innerJoin('people', 'people.id', 'api_tokens.person_id')
      .select(['api_tokens.id', 'api_tokens.person_id', 'people.user_principal_name', 'api_tokens.name', 'api_tokens.created_at', 'api_tokens.last_used_at', 'api_tokens.revoked_at'])
      .orderBy('api_tokens.created_at');
    if (personId) query = query.where('api_tokens.person_id', '=', personId);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: r.id,
      personId: r.person_id,
      userPrincipalName: r.user_principal_name,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    }));
  }

  findToken(id: string) {
    return this.db.selectFrom('api_tokens').select(['id', 'person_id', 'name', 'revoked_at']).where('id', '=', id).executeTakeFirst();
  }

  async revokeToken(id: string, now: Date): Promise<void> {
    await this.db.updateTable('api_tokens').set({ revoked_at: now.toISOString() }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  }
}
