import type { Person } from '../directory/index.ts';
import type { Actor } from '../identity/index.ts';
import type { SiteThumbnailSize } from '../imaging/index.ts';
import { TtlCache } from '../ttl-cache.ts';
import type { SyncEngine } from './sync-engine.ts';

export interface UserInitiatedOptions {
  /** SharePoint's AllowAllPhotoThumbnailsTriggerExchangeSync: any size (not only L) triggers. */
  allSizesTrigger: boolean;
  /** Within one session, check again at most this often; the first request of a session always checks. */
  sessionRecheckMinutes: number;
}

/**
 * The default sync rule: a sync runs when the person themself, signed in, requests their own photo
 * from Sites (L unless all sizes are allowed). Other viewers, anonymous requests and API tokens only
 * ever see the last synced copy.
 */
export class UserInitiatedTrigger {
  private readonly checkedSessions: TtlCache<string, true>;

  constructor(
    private readonly engine: SyncEngine,
    private readonly options: UserInitiatedOptions,
  ) {
    this.checkedSessions = new TtlCache(Math.max(1, options.sessionRecheckMinutes * 60_000), 100_000);
  }

  async onSitesPhotoRequested(viewer: Actor | undefined, target: Person, size: SiteThumbnailSize): Promise<void> {
    if (viewer?.kind !== 'person' || viewer.via !== 'session' || viewer.person.id !== target.id) return;
    if (size !== 'L' && !this.options.allSizesTrigger) return;
    const key = `${viewer.sessionKey}:${target.id}`;
    if (this.options.sessionRecheckMinutes > 0 && this.checkedSessions.get(key)) return;
    this.checkedSessions.set(key, true);
    await this.engine.syncProfilePhoto(target, 'own-photo-view');
  }
}
