// The baseline for read throughput: a bare node:http server sending the same bytes, nothing else.
import fs from 'node:fs';
import http from 'node:http';

const body = fs.readFileSync(process.env.BYTES_FILE);
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
  response.end(body);
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
