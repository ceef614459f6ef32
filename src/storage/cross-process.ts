import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * What several server processes on one PostgreSQL database need from each other: a lock that holds
 * across processes (one sync per person at a time), and a way to tell the others that a cached value
 * changed (LISTEN/NOTIFY). On SQLite there is one server process: the lock is a pass-through and a
 * published change is delivered to this process's own subscribers only.
 */
export interface CrossProcess {
  withLock<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Tells every process (this one included) that `key` of `topic` changed. */
  publish(topic: string, key: string): Promise<void>;
  subscribe(topic: string, handler: (key: string) => void): void;
  close(): Promise<void>;
}

const CHANNEL = 'photosync_changes';

class Subscribers {
  private readonly handlers = new Map<string, Set<(key: string) => void>>();

  add(topic: string, handler: (key: string) => void): void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
  }

  deliver(topic: string, key: string): void {
    for (const handler of this.handlers.get(topic) ?? []) handler(key);
  }
}

export function singleProcess(): CrossProcess {
  const subscribers = new Subscribers();
  return {
    withLock: (_key, work) => work(),
    publish: async (topic, key) => subscribers.deliver(topic, key),
    subscribe: (topic, handler) => subscribers.add(topic, handler),
    close: async () => {},
  };
}

/**
 * PostgreSQL: session advisory locks taken on a pool of their own (a lock holder then needs a
 * connection from the main pool for its work, and a waiter never holds one, so the two pools cannot
 * deadlock each other), and one listening connection that reconnects when it drops.
 */
export function postgresProcesses(driver: typeof pg, url: string, mainPool: pg.Pool, log: Logger): CrossProcess {
  const lockPool = new driver.Pool({ connectionString: url, max: 16 });
  // An idle client losing its connection must not end the process; the pool replaces it.
  lockPool.on('error', (error) => log.warn({ err: error }, 'a lock connection to PostgreSQL failed; the pool replaces it'));
  const subscribers = new Subscribers();
  let listener: pg.Client | undefined;
  let closed = false;
  let listening: Promise<void> | undefined;

  const listen = (): Promise<void> => {
    const client = new driver.Client({ connectionString: url });
    client.on('notification', (message) => {
      const payload = message.payload ?? '';
      const split = payload.indexOf(':');
      if (split > 0) subscribers.deliver(payload.slice(0, split), payload.slice(split + 1));
    });
    client.on('error', (error) => {
      listener = undefined;
      // A lost connection means missed notifications; caches still expire within seconds meanwhile.
      log.warn({ err: error }, 'lost the connection that hears the other server processes; reconnecting in a second');
      if (!closed) setTimeout(() => void (listening = listenOrRetry()), 1000).unref();
    });
    return client.connect().then(async () => {
      await client.query(`listen ${CHANNEL}`);
      listener = client;
    });
  };

  const listenOrRetry = (): Promise<void> =>
    listen().catch((error: unknown) => {
      log.warn({ err: error }, "could not listen for the other server processes' changes; trying again in a second");
      if (!closed) setTimeout(() => void (listening = listenOrRetry()), 1000).unref();
    });

  return {
    async withLock(key, work) {
      const client = await lockPool.connect();
      try {
        await client.query('select pg_advisory_lock(hashtextextended($1, 0))', [key]);
        try {
          return await work();
        } finally {
          await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [key]);
        }
      } finally {
        client.release();
      }
    },
    async publish(topic, key) {
      await mainPool.query('select pg_notify($1, $2)', [CHANNEL, `${topic}:${key}`]);
    },
    subscribe(topic, handler) {
      subscribers.add(topic, handler);
      listening ??= listenOrRetry();
    },
    async close() {
      closed = true;
      await listening;
      await listener?.end().catch(() => {
        // Closing anyway: a connection that fails to end cleanly is gone either way.
      });
      await lockPool.end();
    },
  };
}
