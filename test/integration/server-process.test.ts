import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { PHOTOSYNC_BIN } from '../support/compiled-bin.ts';

const BIN = PHOTOSYNC_BIN;

function startServer(
  env: Record<string, string>,
  args: string[] = [],
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('starting the server as a newcomer does', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-start-'));
    dirs.push(dir);
    return dir;
  };
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  test('the first start creates an admin with a one-time password, serves, and stops cleanly on SIGTERM', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = startServer({ DATA_DIR: tempDir(), PORT: String(port) }, ['--demo']);
    await waitFor(() => server.output().includes('is listening'), 'the server to listen');
    const password = /one-time password:\s+(\S+)/.exec(server.output())?.[1];
    assert.ok(password && password.length >= 20, 'a random one-time password is printed');
    assert.match(server.output(), /ada\.lovelace@contoso\.example/, 'the demo people are listed');

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { status: string; database: string };
    assert.deepEqual(ready, { status: 'ready', database: 'sqlite' });

    // The one-time password signs in, and the first thing asked is a new password.
    const form = await fetch(`http://127.0.0.1:${port}/signin`);
    const cookie = (form.headers.getSetCookie()[0] ?? '').split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const signIn = await fetch(`http://127.0.0.1:${port}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, username: 'admin@photosync.local', password }),
    });
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.get('location'), '/account/password');

    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
  });

  test('a bad setting stops the start with one clear line', async () => {
    const server = startServer({ DATA_DIR: tempDir(), PHOTOSYNC_ADMIN_PASSWORD: 'short' });
    assert.equal(await server.exited, 2);
    assert.equal(
      server.output().trim(),
      'photosync: configuration: PHOTOSYNC_ADMIN_PASSWORD must be at least 12 characters long; leave it unset to get a random one-time password',
    );
  });
});
