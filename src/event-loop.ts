/**
 * Lets the event loop serve what is waiting (requests, timers) before the next piece of long work:
 * on SQLite every query runs on the loop's own thread, so bulk work must come in slices.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
