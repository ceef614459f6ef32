import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import { AppError } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { runPhotosync, type CliRun } from '../support/run-cli.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

/** What a terminal could act on: every C0 and C1 control, DEL, and the Unicode line separators. Tab and newline are the CLI's own. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
/** An escape sequence that sets a terminal's title, as the review used it. */
const SET_TITLE = '\u001b]0;owned\u0007';

const refusedAsBadInput = async (work: Promise<unknown>, what: string) => {
  await assert.rejects(work, (error: unknown) => error instanceof AppError && httpStatusOf(error) === 400, `${what} is refused with a 400`);
};

const rawControlIn = (run: CliRun) => {
  const found = [run.stdout, run.stderr].flatMap((text) => text.split('\n')).find((line) => RAW_CONTROL.test(line));
  return found === undefined ? undefined : JSON.stringify(found);
};

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`control characters on ${kind}`, { skip }, () => {
    let t: TestApp;
    let dir: string;
    let ada: Person;
    const cli = (args: string[]) => runPhotosync(args, t.env);

    before(async () => {
      t = await startTestApp(kind);
      ada = await t.addPerson('ada@contoso.example');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-control-'));
    });
    after(async () => {
      await t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('control characters are refused in every text field: display name, mail address and token label', async () => {
      const { directory, identity } = t.services;
      for (const bad of [SET_TITLE, '\u0000', '\u009b31m', '\u2028']) {
        await refusedAsBadInput(
          directory.addPerson({ userPrincipalName: 'mallory@contoso.example', mail: `mallory${bad}@contoso.example` }),
          `a mail address with ${JSON.stringify(bad)}`,
        );
        await refusedAsBadInput(
          directory.addPerson({ userPrincipalName: 'mallory@contoso.example', displayName: `Mallory${bad}` }),
          `a display name with ${JSON.stringify(bad)}`,
        );
        await refusedAsBadInput(identity.createApiToken(CLI_ACTOR, ada, `deploy${bad}`), `a token label with ${JSON.stringify(bad)}`);
      }
      assert.equal(await directory.findPerson('mallory@contoso.example'), undefined, 'nobody was added');
      assert.equal((await identity.listApiTokens(CLI_ACTOR)).length, 0, 'no token was made');

      // The same through the CLI: a usage error, and the message does not replay the sequence.
      const added = await cli([
        'users',
        'add',
        'mallory@contoso.example',
        '--mail',
        `mallory${SET_TITLE}@contoso.example`,
        '--no-password',
      ]);
      assert.equal(added.code, 2, added.stderr);
      assert.match(added.stderr, /not a valid mail address/);
      const token = await cli(['tokens', 'create', '--user', 'ada@contoso.example', '--name', `deploy${SET_TITLE}`]);
      assert.equal(token.code, 2, token.stderr);
      assert.match(token.stderr, /control characters/);
      assert.equal(rawControlIn(added) ?? rawControlIn(token), undefined, 'no raw control character reaches the terminal');
    });

    test('the CLI never prints raw control characters, even from rows stored before the rule (users list, tokens list, audit)', async () => {
      const { db } = t.services.database;
      const now = new Date().toISOString();
      // Rows as an older version let them in: ESC sequences, a C1 CSI, a tab and a line separator.
      const hostile = `Eve${SET_TITLE}\t\u009b2J\u2028x`;
      await db
        .insertInto('people')
        .values({
          id: '00000000-0000-4000-8000-00000000e5e5',
          user_principal_name: 'eve@contoso.example',
          upn_key: 'eve@contoso.example',
          mail: `eve${SET_TITLE}@contoso.example`,
          mail_key: `eve${SET_TITLE}@contoso.example`,
          display_name: hostile,
          enabled: 1,
          role: 'user',
          password_hash: null,
          must_change_password: 0,
          directory_photo: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await db
        .insertInto('api_tokens')
        .values({
          id: 'token-with-hostile-label',
          person_id: ada.id,
          name: hostile,
          token_hash: 'not-a-real-hash',
          created_at: now,
          last_used_at: null,
          revoked_at: null,
        })
        .execute();
      await db
        .insertInto('audit_log')
        .values({
          at: now,
          actor_kind: 'cli',
          actor_id: null,
          actor_name: 'cli',
          action: 'token.create',
          target_id: ada.id,
          target_name: hostile,
          detail: `token x "${hostile}"`,
          ip: null,
        })
        .execute();

      for (const args of [['users', 'list'], ['tokens', 'list'], ['audit']]) {
        const run = await cli(args);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(rawControlIn(run), undefined, `photosync ${args.join(' ')} prints no raw control character`);
        assert.match(run.stdout, /Eve\\x1[bB]\]0;owned\\x07/, `photosync ${args.join(' ')} shows the escape sequence as text`);
      }
      // A tab inside a value must not add a column to the tab-separated list.
      const eve = (await cli(['users', 'list'])).stdout.split('\n').find((line) => line.startsWith('eve@'));
      assert.equal(eve?.split('\t').length, 4, `one line, four columns: ${JSON.stringify(eve)}`);

      // JSON output stays JSON with the same values, with every control character escaped.
      const values = {
        'users list': (list: { userPrincipalName: string; displayName: string }[]) =>
          list.find((p) => p.userPrincipalName === 'eve@contoso.example')?.displayName,
        'tokens list': (list: { id: string; name: string }[]) => list.find((x) => x.id === 'token-with-hostile-label')?.name,
        audit: (list: { target: { name: string } | null }[]) => list.find((e) => e.target?.name.startsWith('Eve'))?.target?.name,
      };
      for (const [command, valueIn] of Object.entries(values)) {
        const run = await cli([...command.split(' '), '--json']);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(rawControlIn(run), undefined, `photosync ${command} --json prints no raw control character`);
        assert.equal(
          (valueIn as (list: never) => string | undefined)(JSON.parse(run.stdout) as never),
          hostile,
          `photosync ${command} --json keeps the value intact`,
        );
      }
    });

    test('a CSV import with a NUL in a mail address never half-applies: each row is stored whole or reported', async () => {
      const csv = path.join(dir, 'people.csv');
      fs.writeFileSync(
        csv,
        [
          'userPrincipalName,displayName,mail,role',
          'first@contoso.example,First,first@contoso.example,user',
          'nul@contoso.example,Nul,nul\u0000@contoso.example,user',
          'escape@contoso.example,Escape,escape@contoso.example\u001b[2J,user',
          'last@contoso.example,Last,last@contoso.example,user',
        ].join('\n'),
      );
      const run = await cli(['users', 'import', csv, '--json']);
      assert.equal(run.code, 1, `some rows failed: ${run.stderr}`);
      const report = JSON.parse(run.stdout) as {
        rows: { line: number; outcome: string; message?: string }[];
        counts: Record<string, number>;
      };
      assert.deepEqual(report.counts, { created: 2, updated: 0, unchanged: 0, failed: 2 });
      assert.deepEqual(
        report.rows.map((r) => [r.line, r.outcome]),
        [
          [2, 'created'],
          [3, 'failed'],
          [4, 'failed'],
          [5, 'created'],
        ],
      );
      for (const row of report.rows.filter((r) => r.outcome === 'failed')) assert.match(row.message ?? '', /not a valid mail address/);
      const { directory } = t.services;
      assert.ok(await directory.findPerson('first@contoso.example'));
      assert.ok(await directory.findPerson('last@contoso.example'), 'the rows after the bad ones are in too');
      assert.equal(await directory.findPerson('nul@contoso.example'), undefined);
      assert.equal(await directory.findPerson('escape@contoso.example'), undefined);

      // The plain report names the bad lines, printably.
      const again = await cli(['users', 'import', csv]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /line 3: .*not a valid mail address/);
      assert.equal(rawControlIn(again), undefined);
    });
  });
}
