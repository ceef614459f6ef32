/**
 * A small bounded map whose entries expire. Used for hot reads (token → person, person → current
 * photo) where another process's write must show within `ttlMs`; writes in this process delete
 * their keys at once.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();
  /** Bumped by every delete/clear, so a load that raced an invalidation is not cached. */
  private epoch = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: K, value: V): void {
    // Maps iterate in insertion order: a key written again moves to the end, and a full cache
    // makes room for a new key by dropping the one written longest ago.
    if (!this.entries.delete(key) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expiresAt: this.clock() + this.ttlMs });
  }

  /**
   * The cached value, or `load()`'s result, cached only if nothing was invalidated while it loaded:
   * a read that started before a write must not put the old value back after the write cleared it.
   */
  async getOrLoad(key: K, load: () => Promise<V>): Promise<V> {
    const cached = this.get(key);
    if (cached !== undefined) return cached;
    const epoch = this.epoch;
    const value = await load();
    if (epoch === this.epoch) this.set(key, value);
    return value;
  }

  delete(key: K): void {
    this.epoch++;
    this.entries.delete(key);
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
  }
}
