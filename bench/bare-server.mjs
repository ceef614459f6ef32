// The baseline for hot reads: a bare node:http server sending the same bytes with an ETag (and a
// 304 for a matching If-None-Match), nothing else. FILES maps each path to the file it sends.
// BUSY_MICROS adds that much busy work to each request (the bench's measure of what a microsecond
// of work in a handler costs the server in all).
import fs from 'node:fs';
import http from 'node:http';
import { keepTickObjectShapeAlive } from '../bin/keep-tick-shape.js';

// As photosync's binary does: without it a bare server, too, swings by 15% after a full garbage
// collection, and the baseline should be at its best.
keepTickObjectShapeAlive();

const files = new Map(
  Object.entries(JSON.parse(process.env.FILES)).map(([urlPath, file]) => {
    const body = fs.readFileSync(file);
    return [urlPath, { body, etag: `"${urlPath.slice(1)}-${body.length}"` }];
  }),
);
const busyNanos = BigInt(Math.round(Number(process.env.BUSY_MICROS ?? 0) * 1000));
const server = http.createServer((request, response) => {
  if (busyNanos > 0n) {
    const until = process.hrtime.bigint() + busyNanos;
    while (process.hrtime.bigint() < until);
  }
  const file = files.get(request.url);
  if (!file) {
    response.writeHead(404).end();
  } else if (request.headers['if-none-match'] === file.etag) {
    response.writeHead(304, { etag: file.etag, 'cache-control': 'private, no-cache' }).end();
  } else {
    response.writeHead(200, {
      'content-type': 'image/jpeg',
      'content-length': file.body.length,
      etag: file.etag,
      'cache-control': 'private, no-cache',
    });
    response.end(file.body);
  }
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
