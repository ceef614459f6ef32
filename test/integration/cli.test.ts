import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { PHOTOSYNC_BIN } from '../support/compiled-bin.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { runPhotosync } from '../support/run-cli.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the photosync CLI on ${kind}`, { skip }, () => {
    let t: TestApp;
    let dir: string;
    const cli = (args: string[], stdin?: string) => runPhotosync(args, t.env, stdin);

    before(async () => {
      // The server runs while the CLI works on the same database, as in production.
      t = await startTestApp(kind);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-cli-'));
    });
    after(async () => {
      await t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('users add takes the password from stdin, never from an argument', async () => {
      const added = await cli(
        ['users', 'add', 'ada@contoso.example', '--name', 'Ada Lovelace', '--mail', 'ada@contoso.example', '--password-stdin'],
        'a long enough password\n',
      );
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /Added ada@contoso.example \(Ada Lovelace, user\)/);
      assert.equal((await t.signIn('ada@contoso.example', 'a long enough password')).includes('photosync_session='), true);
    });

    test('users add without a terminal or --password-stdin is a usage error', async () => {
      const run = await cli(['users', 'add', 'nopass@contoso.example']);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /--password-stdin/);
    });

    test('a duplicate user principal name is refused, whatever its case', async () => {
      const run = await cli(['users', 'add', 'ADA@contoso.example', '--no-password']);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /already exists/);
    });

    test('users import adds the good rows and reports bad ones with their line numbers', async () => {
      const csv = path.join(dir, 'people.csv');
      fs.writeFileSync(
        csv,
        [
          'userPrincipalName,displayName,mail,role',
          'grace@contoso.example,Grace Hopper,grace@contoso.example,user',
          'not-an-upn,Broken,,user',
          '"alan@contoso.example","Turing, Alan",alan@contoso.example,admin',
          'bob@contoso.example,Bob,bob@contoso.example,superuser',
          '',
        ].join('\n'),
      );
      const dry = await cli(['users', 'import', csv, '--dry-run']);
      assert.equal(dry.code, 1);
      assert.match(dry.stdout, /Dry run: would have created 2, updated 0, unchanged 0, failed 2/);
      assert.equal((await cli(['users', 'list', '--json'])).stdout.includes('grace@'), false, 'a dry run changes nothing');

      const run = await cli(['users', 'import', csv]);
      assert.equal(run.code, 1, 'some rows failed');
      assert.match(run.stderr, /line 3: "not-an-upn" is not a valid user principal name/);
      assert.match(run.stderr, /line 5: "superuser" is not a role/);
      const people = JSON.parse((await cli(['users', 'list', '--json'])).stdout) as {
        userPrincipalName: string;
        displayName: string;
        role: string;
      }[];
      const alan = people.find((p) => p.userPrincipalName === 'alan@contoso.example');
      assert.deepEqual([alan?.displayName, alan?.role], ['Turing, Alan', 'admin']);

      const again = await cli(['users', 'import', csv, '--json']);
      const report = JSON.parse(again.stdout) as { counts: Record<string, number> };
      assert.deepEqual(report.counts, { created: 0, updated: 0, unchanged: 2, failed: 2 });
    });

    test('tokens create prints the token alone on stdout, and it works on the API', async () => {
      const run = await cli(['tokens', 'create', '--user', 'ada@contoso.example', '--name', 'script']);
      assert.equal(run.code, 0, run.stderr);
      const token = run.stdout.trim();
      assert.match(token, /^psk_[A-Za-z0-9_-]{43}$/);
      assert.equal(run.stdout, `${token}\n`);
      const response = await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) });
      assert.equal(response.statusCode, 404, 'authenticated; no photo yet');

      const list = JSON.parse((await cli(['tokens', 'list', '--json'])).stdout) as { id: string; name: string }[];
      const created = list.find((x) => x.name === 'script');
      assert.ok(created);
      assert.equal(JSON.stringify(list).includes(token), false, 'the secret is never listed');
      assert.equal((await cli(['tokens', 'revoke', created.id])).code, 0);
    });

    test('photo set, get and remove work on the same store as the API', async () => {
      const file = path.join(dir, 'ada.png');
      fs.writeFileSync(file, await makePhoto('png', 500, 400));
      const set = await cli(['photo', 'set', 'ada@contoso.example', file]);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /in 6 sizes/);

      const out = path.join(dir, 'out.jpg');
      assert.equal((await cli(['photo', 'get', 'ada@contoso.example', '--size', '96', '-o', out])).code, 0);
      const meta = await sharp(fs.readFileSync(out)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 96, 96]);

      const piped = await cli(['photo', 'get', 'ada@contoso.example', '--size', '48x48']);
      assert.equal((await sharp(piped.stdoutBytes).metadata()).width, 48);

      assert.equal((await cli(['photo', 'remove', 'ada@contoso.example'])).code, 0);
      const gone = await cli(['photo', 'get', 'ada@contoso.example', '-o', out]);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /no profile photo/);
    });

    test('a bad image through the CLI is a clear failure', async () => {
      const file = path.join(dir, 'bad.jpg');
      fs.writeFileSync(file, 'not an image at all');
      const run = await cli(['photo', 'set', 'ada@contoso.example', file]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /not an image/);
    });

    test('usage errors exit with 2', async () => {
      for (const args of [
        ['photo', 'get'],
        ['photo', 'get', 'ada@contoso.example', '--size', '50'],
        ['nonsense'],
        ['photo', 'set', 'ada@contoso.example', path.join(dir, 'missing.jpg')],
      ]) {
        const run = await cli(args);
        assert.equal(run.code, 2, args.join(' '));
        assert.ok(run.stderr.length > 0);
      }
    });

    test('an unknown person is a failure that names them in plain words', async () => {
      for (const args of [
        ['photo', 'remove', 'nobody@contoso.example'],
        ['photo', 'set', 'nobody@contoso.example', path.join(dir, 'ada.png')],
        ['status', 'nobody@contoso.example'],
      ]) {
        const run = await cli(args);
        assert.equal(run.code, 1, args.join(' '));
        assert.equal(run.stderr, "photosync: Nobody has the user principal name or mail 'nobody@contoso.example'.\n", args.join(' '));
      }
    });

    test('a person can be named by their mail address as well as their user principal name', async () => {
      assert.equal((await cli(['users', 'add', 'kay@contoso.example', '--mail', 'kay.byrne@contoso.example', '--no-password'])).code, 0);
      const file = path.join(dir, 'kay.png');
      fs.writeFileSync(file, await makePhoto('png', 200, 200));
      const set = await cli(['photo', 'set', 'kay.byrne@contoso.example', file]);
      assert.equal(set.code, 0, set.stderr);
      assert.equal((await cli(['photo', 'get', 'kay@contoso.example', '-o', path.join(dir, 'kay-out.jpg')])).code, 0);
    });

    test('photo set with a folder instead of a photo says so', async () => {
      const run = await cli(['photo', 'set', 'ada@contoso.example', dir]);
      assert.equal(run.code, 2);
      assert.equal(run.stderr, `photosync: ${dir} is a folder, not a photo file.\n`);
    });

    test('users list starts with a header row; --json stays a plain list', async () => {
      const run = await cli(['users', 'list']);
      assert.equal(run.code, 0, run.stderr);
      const [header, ...rows] = run.stdout.trimEnd().split('\n');
      assert.deepEqual(header?.split('\t'), ['User principal name', 'Display name', 'Mail', 'Role', 'Status']);
      assert.ok(
        rows.some((row) => row.startsWith('ada@contoso.example\tAda Lovelace\t')),
        run.stdout,
      );
      const listed = JSON.parse((await cli(['users', 'list', '--json'])).stdout) as { userPrincipalName: string }[];
      assert.equal(listed.length, rows.length, 'the same people, without a header');
    });

    test('users set-password reads the password from stdin, checks its strength, and can require a change', async () => {
      assert.equal((await cli(['users', 'add', 'nell@contoso.example', '--no-password'])).code, 0);
      const noStdinFlag = await cli(['users', 'set-password', 'nell@contoso.example']);
      assert.equal(noStdinFlag.code, 2);
      assert.match(noStdinFlag.stderr, /--password-stdin/);
      const empty = await cli(['users', 'set-password', 'nell@contoso.example', '--password-stdin'], '');
      assert.equal(empty.code, 2);
      assert.match(empty.stderr, /Standard input was empty/);
      const weak = await cli(['users', 'set-password', 'nell@contoso.example', '--password-stdin'], 'short\n');
      assert.equal(weak.code, 2);
      assert.equal(weak.stderr, 'photosync: A password needs at least 12 characters.\n');
      const nobody = await cli(['users', 'set-password', 'nobody@contoso.example', '--password-stdin'], 'a long enough password\n');
      assert.equal(nobody.code, 1);
      assert.match(nobody.stderr, /Nobody has the user principal name/);

      const set = await cli(
        ['users', 'set-password', 'nell@contoso.example', '--password-stdin', '--must-change'],
        "nell's long password\n",
      );
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /must change it at their next sign-in/);
      const form = await t.app.inject({ method: 'GET', url: '/signin' });
      const response = await t.app.inject({
        method: 'POST',
        url: '/signin',
        headers: { cookie: form.headers['set-cookie']!.toString().split(';')[0]!, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          _csrf: /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!,
          username: 'nell@contoso.example',
          password: "nell's long password",
        }).toString(),
      });
      assert.equal(response.headers.location, '/account/password', 'signed in, and sent to choose a password');
    });

    test('users disable and enable stop and restore sign-in, and say what they did', async () => {
      assert.equal((await cli(['users', 'add', 'otto@contoso.example', '--password-stdin'], 'otto long password\n')).code, 0);
      const token = (await cli(['tokens', 'create', '--user', 'otto@contoso.example'])).stdout.trim();
      const disabled = await cli(['users', 'disable', 'otto@contoso.example', '--reason', 'left']);
      assert.equal(disabled.code, 0, disabled.stderr);
      assert.equal(disabled.stdout, 'Disabled otto@contoso.example.\n');
      assert.equal((await cli(['users', 'disable', 'otto@contoso.example'])).stdout, 'otto@contoso.example was already disabled.\n');
      assert.equal((await t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: bearer(token) })).statusCode, 401);
      assert.match((await cli(['users', 'list'])).stdout, /otto@contoso.example\t.*\tdisabled\n/);
      await assert.rejects(t.signIn('otto@contoso.example', 'otto long password'));
      const enabled = await cli(['users', 'enable', 'otto@contoso.example']);
      assert.equal(enabled.stdout, 'Enabled otto@contoso.example.\n');
      assert.ok((await t.signIn('otto@contoso.example', 'otto long password')).includes('photosync_session='));
      const audit = JSON.parse((await cli(['audit', '--json', '--person', 'otto@contoso.example'])).stdout) as {
        action: string;
        actor: { kind: string };
      }[];
      assert.deepEqual(
        audit.filter((e) => e.action.startsWith('person.')).map((e) => [e.action, e.actor.kind]),
        [
          ['person.enable', 'cli'],
          ['person.disable', 'cli'],
          ['person.add', 'cli'],
        ],
      );
    });

    test('users remove needs --yes, and then removes the person', async () => {
      assert.equal((await cli(['users', 'add', 'rex@contoso.example', '--no-password'])).code, 0);
      const unconfirmed = await cli(['users', 'remove', 'rex@contoso.example']);
      assert.equal(unconfirmed.code, 2);
      assert.match(unconfirmed.stderr, /cannot be undone.*--yes/);
      assert.ok(
        JSON.parse((await cli(['users', 'list', '--json'])).stdout).some(
          (p: { userPrincipalName: string }) => p.userPrincipalName === 'rex@contoso.example',
        ),
      );
      const removed = await cli(['users', 'remove', 'rex@contoso.example', '--yes']);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(removed.stdout, 'Removed rex@contoso.example.\n');
      assert.equal(
        JSON.parse((await cli(['users', 'list', '--json'])).stdout).some(
          (p: { userPrincipalName: string }) => p.userPrincipalName === 'rex@contoso.example',
        ),
        false,
      );
      assert.equal((await cli(['users', 'remove', 'rex@contoso.example', '--yes'])).code, 1);
    });

    test('the last enabled admin cannot be disabled or removed from the CLI either', async () => {
      const admins = JSON.parse((await cli(['users', 'list', '--json'])).stdout).filter(
        (p: { role: string; enabled: boolean }) => p.role === 'admin' && p.enabled,
      ) as { userPrincipalName: string }[];
      assert.equal(admins.length, 1, 'alan, from the CSV import, is the only admin');
      const run = await cli(['users', 'disable', admins[0]!.userPrincipalName]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /is the last enabled admin and cannot be disabled/);
      assert.match((await cli(['users', 'remove', admins[0]!.userPrincipalName, '--yes'])).stderr, /last enabled admin/);
    });

    test('photosync --version prints the version from package.json', async () => {
      const { version } = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      const run = await cli(['--version']);
      assert.equal(run.code, 0);
      assert.equal(run.stdout, `${version}\n`);
    });

    test('a reader that closes the pipe early ends the command quietly (photosync users list | head -1)', async () => {
      // More output than a pipe holds (64 KiB), so the CLI is still writing when the reader goes away.
      const csv = path.join(dir, 'many.csv');
      const names = Array.from(
        { length: 1500 },
        (_, i) => `reader${i}@contoso.example,Reader Number ${i} With A Long Enough Display Name,reader${i}@contoso.example,user`,
      );
      fs.writeFileSync(csv, ['userPrincipalName,displayName,mail,role', ...names, ''].join('\n'));
      assert.equal((await cli(['users', 'import', csv])).code, 0);

      const child = spawn(process.execPath, [PHOTOSYNC_BIN, 'users', 'list'], {
        env: { PATH: process.env.PATH ?? '', ...t.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      let first = '';
      child.stdout.on('data', (chunk: Buffer) => {
        first += chunk.toString('utf8');
        // Like `head -1`: read the first line, then close the pipe.
        if (first.includes('\n')) child.stdout.destroy();
      });
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      assert.match(first, /^User principal name\t/);
      assert.equal(stderr, '', 'no EPIPE, no stack trace');
      assert.deepEqual([code, signal], [0, null]);
    });
  });
}

describe('configuration', () => {
  test('a bad environment variable stops the CLI with one line naming it', async () => {
    const run = await runPhotosync(['users', 'list'], { PORT: 'eighty', DATA_DIR: os.tmpdir() });
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'photosync: configuration: PORT must be a whole number from 0 to 65535 (got "eighty")\n');
  });
});
