import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServices } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { createScratchPostgres, DATABASE_KINDS } from '../support/databases.ts';
import { freePort, KillableServer } from '../support/killable-server.ts';

const SET_PICTURE = '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture';

interface LogLine {
  level: number;
  msg?: string;
  err?: { stack?: string };
  stack?: string;
}

/**
 * Headers announcing `declared` bytes, then `sent` bytes of body, then the connection is dropped:
 * a client that gives up (or an attacker holding connections open) half-way through its upload.
 */
async function abandonUpload(port: number, head: string, declared: number, sent: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`${head}Content-Length: ${declared}\r\n\r\n`);
  await new Promise<void>((resolve) => socket.write(Buffer.alloc(sent, 0x41), () => resolve()));
  socket.destroy();
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`a client that gives up mid-upload on ${kind}`, { skip }, () => {
    let server: KillableServer | undefined;
    let token = '';
    let dataDir = '';
    let dropPostgres: (() => Promise<void>) | undefined;

    before(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-aborts-'));
      const postgres = kind === 'postgres' ? await createScratchPostgres() : undefined;
      dropPostgres = postgres?.drop;
      const env = {
        DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        PHOTOSYNC_ADMIN_PASSWORD: 'a long enough admin password',
        ...(postgres && { DATABASE_URL: postgres.url }),
      };
      const services = await createServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
      try {
        const ada = await services.directory.addPerson({ userPrincipalName: 'ada@contoso.example' });
        token = (await services.identity.createApiToken(CLI_ACTOR, ada, 'aborts')).token;
      } finally {
        await services.close();
      }
      server = new KillableServer(await freePort(), env);
      await server.start();
    });
    after(async () => {
      await server?.stop();
      await dropPostgres?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    test('is logged at debug without a stack, never as a server error, whoever it is', async () => {
      const port = server!.port;
      const lines = () =>
        server!
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as LogLine);
      const before = lines().length;
      const bearer = `Authorization: Bearer ${token}\r\n`;
      // Anonymous: the review's attack, on the routes that used to read first (the answer needs no body).
      await abandonUpload(
        port,
        `POST ${SET_PICTURE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json;charset=utf-8\r\n`,
        4_990_000,
        1_000_000,
      );
      await abandonUpload(port, 'DELETE /v1.0/me/photo HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n', 4_000_000, 1_000_000);
      await abandonUpload(
        port,
        'POST /mail/photo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n',
        4_000_000,
        1_000_000,
      );
      // Signed in: the body is wanted, and the client goes away while it arrives.
      const signedIn = [
        `PUT /v1.0/me/photo/$value HTTP/1.1\r\nHost: x\r\n${bearer}Content-Type: image/jpeg\r\n`,
        `POST ${SET_PICTURE} HTTP/1.1\r\nHost: x\r\n${bearer}Content-Type: application/json;charset=utf-8\r\n`,
        `POST /mail/photo HTTP/1.1\r\nHost: x\r\n${bearer}Content-Type: multipart/form-data; boundary=b\r\n`,
      ];
      for (const head of signedIn) await abandonUpload(port, head, 2_000_000, 200_000);

      const aborts = () =>
        lines()
          .slice(before)
          .filter((line) => line.level === 20 && /client went away/.test(line.msg ?? ''));
      const deadline = Date.now() + 15_000;
      while (aborts().length < signedIn.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));

      const logged = lines().slice(before);
      const errors = logged.filter((line) => line.level >= 50).map((line) => `${line.msg}: ${(line.err?.stack ?? '').split('\n')[0]}`);
      assert.deepEqual(errors, [], 'no abandoned upload is logged as a server error');
      const warnings = logged.filter((line) => line.level === 40).map((line) => line.msg);
      assert.deepEqual(warnings, [], 'nor as a warning');
      assert.equal(
        aborts().length,
        signedIn.length,
        `each signed-in client that went away mid-body is one debug line: ${JSON.stringify(logged.map((l) => [l.level, l.msg]))}`,
      );
      for (const line of aborts()) assert.equal(line.err?.stack ?? line.stack, undefined, 'without a stack');
      assert.equal((await fetch(`${server!.url}/healthz`)).status, 200);
    });
  });
}
