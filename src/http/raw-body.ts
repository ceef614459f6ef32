import type { Readable } from 'node:stream';
import { ImageTooLarge } from '../errors.ts';

/** Past this much, an oversized body is cut off instead of drained. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * Reads a raw request body up to `limit` bytes. A larger body is drained (not kept) before the 413
 * goes out: answering while the client is still sending can reach it as a reset connection.
 */
export function readCappedBody(stream: Readable, limit: number, describeLimit: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limit) chunks.push(chunk);
      else if (received > DRAIN_LIMIT) stream.destroy();
    });
    stream.on('end', () => {
      if (received > limit) reject(new ImageTooLarge(`The photo is larger than ${describeLimit}; send a smaller one.`));
      else resolve(Buffer.concat(chunks, received));
    });
    stream.on('error', reject);
    stream.on('close', () => {
      if (received > DRAIN_LIMIT) reject(new ImageTooLarge(`The photo is larger than ${describeLimit}; send a smaller one.`));
    });
  });
}
