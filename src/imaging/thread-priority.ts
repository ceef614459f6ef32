import fs from 'node:fs';
import os from 'node:os';

const BACKGROUND_NICE = 10;

/**
 * On Linux, lowers the scheduling priority of every thread of this process except the main one
 * (the event loop): libuv's pool, where sharp runs, and the libvips workers those threads start
 * (a new thread inherits its creator's priority). A flood of uploads then takes the CPU the event
 * loop leaves over, instead of sharing it equally and making thumbnail reads wait.
 * Lowering a priority needs no privilege; elsewhere this does nothing.
 */
export function lowerWorkerThreadPriority(): void {
  if (process.platform !== 'linux') return;
  let tids: string[];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return;
  }
  for (const tid of tids) {
    const id = Number(tid);
    if (id === process.pid) continue;
    try {
      if (os.getPriority(id) < BACKGROUND_NICE) os.setPriority(id, BACKGROUND_NICE);
    } catch {
      // The thread ended meanwhile.
    }
  }
}

/** Keeps new pool threads (libuv starts them on first use) at the lower priority too. */
export function keepWorkerThreadsInBackground(intervalMs = 2000): () => void {
  lowerWorkerThreadPriority();
  const timer = setInterval(lowerWorkerThreadPriority, intervalMs).unref();
  return () => clearInterval(timer);
}
