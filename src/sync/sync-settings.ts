import type { Kysely, Transaction } from 'kysely';
import { SYNC_MODES, type SyncMode } from './sync-mode.ts';
import { InvalidInput } from '../errors.ts';
import { claimIntervalTurn, type Schema } from '../storage/index.ts';
import { TtlCache } from '../ttl-cache.ts';

export interface SyncSettings {
  mode: SyncMode;
  intervalMinutes: number;
}

const MODE_KEY = 'sync.mode';
const INTERVAL_KEY = 'sync.interval_minutes';
const LAST_SWEEP_KEY = 'sync.last_scheduled_sweep_at';
const LAST_SAFETY_NET_KEY = 'sync.last_safety_net_at';
export const MAX_INTERVAL_MINUTES = 7 * 24 * 60;

/**
 * The sync mode and schedule, stored in the database so every process follows the admin's choice;
 * the environment gives only the defaults. Read through a short cache: another process's change
 * takes effect here within two seconds.
 */
export class SyncSettingsStore {
  /** On the store's clock, so a test moves time past the two seconds instead of waiting them out. */
  private readonly cache = new TtlCache<string, SyncSettings>(2000, 1, () => this.now().getTime());

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly defaults: SyncSettings,
    private readonly now: () => Date = () => new Date(),
    /** Told after a save (to tell the other server processes). */
    private readonly onSaved: () => Promise<void> = async () => {},
  ) {}

  /** `db`: inside a transaction, read through it (on SQLite a second connection would wait for it). */
  get(db: Kysely<Schema> | Transaction<Schema> = this.db): Promise<SyncSettings> {
    return this.cache.getOrLoad('settings', async () => {
      const rows = await db.selectFrom('settings').select(['key', 'value']).where('key', 'in', [MODE_KEY, INTERVAL_KEY]).execute();
      const stored = new Map(rows.map((row) => [row.key, row.value]));
      const mode = stored.get(MODE_KEY);
      const interval = Number(stored.get(INTERVAL_KEY));
      return {
        mode: (SYNC_MODES as readonly string[]).includes(mode ?? '') ? (mode as SyncMode) : this.defaults.mode,
        intervalMinutes: Number.isInteger(interval) && interval > 0 ? interval : this.defaults.intervalMinutes,
      };
    });
  }

  async save(settings: SyncSettings, updatedBy: string): Promise<void> {
    const checked = validateSyncSettings(settings);
    await this.db.transaction().execute(async (trx) => {
      for (const [key, value] of [
        [MODE_KEY, checked.mode],
        [INTERVAL_KEY, String(checked.intervalMinutes)],
      ] as const) {
        const row = { key, value, updated_at: this.now().toISOString(), updated_by: updatedBy };
        await trx
          .insertInto('settings')
          .values(row)
          .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: row.updated_at, updated_by: updatedBy }))
          .execute();
      }
    });
    this.forgetCached();
    // Logs its own failures; other processes then follow the change when their cache expires (two seconds).
    await this.onSaved();
  }

  /** Saved here or in another process. */
  forgetCached(): void {
    this.cache.clear();
  }

  /**
   * Claims the scheduled sweep if it is due: one compare-and-set, so across processes (and a
   * double tick) exactly one sweep runs per interval.
   */
  claimScheduledSweep(intervalMinutes: number): Promise<boolean> {
    return this.claimTurn(LAST_SWEEP_KEY, intervalMinutes * 60_000);
  }

  /** The on-change safety net's turn, the same way: one process looks per interval. */
  claimSafetyNet(intervalMs: number): Promise<boolean> {
    return this.claimTurn(LAST_SAFETY_NET_KEY, intervalMs);
  }

  private claimTurn(key: string, intervalMs: number): Promise<boolean> {
    return claimIntervalTurn(this.db, key, { intervalMs, now: this.now(), by: 'sync' });
  }
}

/** Form fields and CLI arguments arrive as strings; both come through here. */
export function validateSyncSettings(input: { mode: unknown; intervalMinutes: unknown }): SyncSettings {
  if (typeof input.mode !== 'string' || !(SYNC_MODES as readonly string[]).includes(input.mode)) {
    throw new InvalidInput(`The sync mode must be one of ${SYNC_MODES.join(', ')} (got "${String(input.mode).slice(0, 40)}").`);
  }
  const interval =
    typeof input.intervalMinutes === 'number' ? input.intervalMinutes : Number(String(input.intervalMinutes ?? '').trim() || NaN);
  if (!Number.isInteger(interval) || interval < 1 || interval > MAX_INTERVAL_MINUTES) {
    throw new InvalidInput(`The schedule interval must be a whole number of minutes from 1 to ${MAX_INTERVAL_MINUTES}.`);
  }
  return { mode: input.mode as SyncMode, intervalMinutes: interval };
}
