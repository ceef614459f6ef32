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
 * uploads behind them.
 */
export class ImageWorkQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private waitingUploads = 0;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaitingUploads: number,
    private readonly retryAfterSeconds = 2,
  ) {}

  /** Throws the 503 an upload would get now, before the server spends anything on reading its body. */
  assertRoomForUpload(): void {
    if (this.running >= this.concurrency && this.waitingUploads >= this.maxWaitingUploads) {
      throw new ServiceBusy('The server is busy processing other photos; try again in a few seconds.', this.retryAfterSeconds);
    }
  }

  async run<T>(work: () => Promise<T>, options: ImageWorkOptions = {}): Promise<T> {
    if (this.running < this.concurrency) {
      this.running++;
    } else {
      if (!options.background) this.assertRoomForUpload();
      if (!options.background) this.waitingUploads++;
      // The slot is handed over by the finishing task, so `running` stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (!options.background) this.waitingUploads--;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** For /metrics and tests. */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
