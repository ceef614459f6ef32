import { ServiceBusy } from '../errors.ts';

export interface ImageWorkOptions {
  /**
   * Background work (syncs, imports) waits as long as it takes; a client's upload is refused with
   * 503 when the waiting line is full, so a flood cannot queue unbounded work (and memory).
   */
  background?: boolean;
}

/**
 * Decoding and resizing photos is the expensive, memory-hungry part of the server: at most
 * `concurrency` images are processed at once (about one per core), with a bounded line of waiting
 * uploads behind them. Uploads and background work (syncs, imports) wait in lines of their own and
 * take turns for a free slot: under a flood of uploads, each of which asks for a sync, the syncs
 * keep pace instead of waiting behind the whole flood (on-change lag grew to 17 s that way).
 */
export class ImageWorkQueue {
  private running = 0;
  private readonly waitingUploads: (() => void)[] = [];
  private readonly waitingBackground: (() => void)[] = [];
  private backgroundNext = false;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaitingUploads: number,
    private readonly retryAfterSeconds = 2,
  ) {}

  /** Throws the 503 an upload would get now, before the server spends anything on reading its body. */
  assertRoomForUpload(): void {
    if (this.running >= this.concurrency && this.waitingUploads.length >= this.maxWaitingUploads) {
      throw new ServiceBusy('The server is busy processing other photos; try again in a few seconds.', this.retryAfterSeconds);
    }
  }

  async run<T>(work: () => Promise<T>, options: ImageWorkOptions = {}): Promise<T> {
    if (this.running < this.concurrency) {
      this.running++;
    } else {
      if (!options.background) this.assertRoomForUpload();
      // The slot is handed over by the finishing task, so `running` stays as it is.
      await new Promise<void>((resolve) => (options.background ? this.waitingBackground : this.waitingUploads).push(resolve));
    }
    try {
      return await work();
    } finally {
      const next = this.takeNext();
      if (next) next();
      else this.running--;
    }
  }

  /** Alternates between the two lines while both wait; otherwise whichever has someone. */
  private takeNext(): (() => void) | undefined {
    const background = this.waitingBackground.length > 0 && (this.backgroundNext || this.waitingUploads.length === 0);
    this.backgroundNext = !background;
    return background ? this.waitingBackground.shift() : this.waitingUploads.shift();
  }

  /** For /metrics and tests. */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waitingUploads.length + this.waitingBackground.length };
  }
}
