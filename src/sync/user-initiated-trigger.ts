import type { Person } from '../directory/index.ts';
import type { Actor } from '../identity/index.ts';
import type { SiteThumbnailSize } from '../imaging/index.ts';
import { TtlCache } from '../ttl-cache.ts';
import type { SyncRequests } from './sync-requests.ts';

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
  /** The check each session made last; later requests in the window wait for it instead of racing it. */
  private readonly sessionChecks: TtlCache<string, Promise<unknown>>;

  constructor(
    private readonly requests: SyncRequests,
    private readonly options: UserInitiatedOptions,
  ) {
    this.sessionChecks = new TtlCache(Math.max(1, options.sessionRecheckMinutes * 60_000), 100_000);
  }

  async onSitesPhotoRequested(viewer: Actor | undefined, target: Person, size: SiteThumbnailSize): Promise<void> {
    if (viewer?.kind !== 'person' || viewer.via !== 'session' || viewer.person.id !== target.id) return;
    if (size !== 'L' && !this.options.allSizesTrigger) return;
    const key = `${viewer.sessionKey}:${target.id}`;
    const earlier = this.options.sessionRecheckMinutes > 0 ? this.sessionChecks.get(key) : undefined;
    if (earlier) {
      await earlier;
      return;
    }
    const check = this.requests.syncNow(target, 'own-photo-view');
    this.sessionChecks.set(key, check);
    await check;
  }
}
