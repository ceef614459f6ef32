import http from 'node:http';
import { createServices } from '../src/services.ts';
import { loadConfig } from '../src/config.ts';
import { createPhotoFastPath } from '../src/web/photo-fast-path.ts';
import { apiSecurityHeaders } from '../src/web/security-headers.ts';
import { CLI_ACTOR } from '../src/identity/index.ts';
const [dir, token] = process.argv.slice(2) as [string, string];
const services = await createServices(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'warn' }));
if (process.env.WORKERS) await services.syncAutomation.startWorkers();
if (process.env.APP) { const { buildHttpApp } = await import('../src/app.ts'); const app = await buildHttpApp(services); await app.ready(); }
const fast = createPhotoFastPath({ identity: services.identity, directory: services.directory, mail: services.mail, sites: services.sites, securityHeaders: apiSecurityHeaders({ https: false }), onAnswered: () => {} });
// warm the caches the full route would fill, and keep them warm
const warm = async () => {
  const person = (await services.directory.findByUpnOrMail('reader@bench.example'))!;
  await services.identity.authenticateBearer(token);
  await services.sites.getThumbnail(person, 'S');
};
await warm();
setInterval(() => void warm(), 500);
let misses = 0;
const server = http.createServer((req, res) => { if (!fast(req, res)) { misses++; res.writeHead(503).end(); } });
server.listen(4902, '127.0.0.1', () => console.log('listening'));
setInterval(() => { if (misses) console.log('misses', misses); }, 2000);
process.on('SIGTERM', () => process.exit(0));
void CLI_ACTOR;
