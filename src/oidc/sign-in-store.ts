import type { Kysely } from 'kysely';
import type { Schema } from '../storage/index.ts';

export interface PendingSignIn {
  codeVerifier: string;
  nonce: string;
  returnTo: string | null;
  expiresAt: string;
}

/** Sign-ins between leaving for the provider and coming back; each is taken once. */
export class OidcSignInStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async insert(stateHash: string, pending: PendingSignIn, now: Date): Promise<void> {
    await this.db
      .insertInto('oidc_sign_ins')
      .values({
        state_hash: stateHash,
        code_verifier: pending.codeVerifier,
        nonce: pending.nonce,
        return_to: pending.returnTo,
        created_at: now.toISOString(),
        expires_at: pending.expiresAt,
      })
      .execute();
  }

  /** Reads and deletes in one go: a state is good for one callback only. */
  async take(stateHash: string): Promise<PendingSignIn | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('oidc_sign_ins').selectAll().where('state_hash', '=', stateHash).executeTakeFirst();
      if (!row) return undefined;
      const deleted = await trx.deleteFrom('oidc_sign_ins').where('state_hash', '=', stateHash).executeTakeFirst();
      // Two callbacks with one state at once: only the one whose delete took the row goes on.
      if (Number(deleted.numDeletedRows) === 0) return undefined;
      return { codeVerifier: row.code_verifier, nonce: row.nonce, returnTo: row.return_to, expiresAt: row.expires_at };
    });
  }

  /** Sign-ins nobody came back from. */
  async deleteExpired(now: Date): Promise<void> {
    await this.db.deleteFrom('oidc_sign_ins').where('expires_at', '<', now.toISOString()).execute();
  }
}
