import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { createServices } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { migrationsFor } from '../../src/storage/migrations.ts';
import type { Schema } from '../../src/storage/schema.ts';
import { createScratchPostgres, DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { bearer, startTestApp, type TestApp } from '../support/test-app.ts';

type KeyValue = { Key: string; Value: string };

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`Sites photo file names on ${kind}`, { skip }, () => {
    let t: TestApp;
    let viewer: string;
    before(async () => {
      t = await startTestApp(kind);
      viewer = await t.tokenFor(await t.addPerson('viewer@contoso.example'));
    });
    after(() => t.close());

    const pictureUrl = async (person: Person) => {
      const response = await t.app.inject({
        method: 'GET',
        url: `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${encodeURIComponent(`'i:0#.f|membership|${person.userPrincipalName}'`)}`,
        headers: { ...bearer(viewer), accept: 'application/json' },
      });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as { PictureUrl: string | null; UserProfileProperties: KeyValue[] };
      assert.equal(body.UserProfileProperties.find((p) => p.Key === 'PictureURL')?.Value, body.PictureUrl ?? '');
      return body.PictureUrl;
    };
    /** The Mail ETag behind the Sites file a URL names (its ETag is `"<mail etag>-<size>"`). */
    const sourceOf = async (url: string) => {
      const response = await t.app.inject({ method: 'GET', url: new URL(url).pathname, headers: bearer(viewer) });
      assert.equal(response.statusCode, 200, `${url}: ${response.body.slice(0, 200)}`);
      return /^"(.+)-[SML]"$/.exec(String(response.headers.etag))?.[1];
    };
    const givePhoto = async (person: Person, color: string) => {
      await t.services.mail.setPhoto(CLI_ACTOR, person, await makePhoto('jpeg', 200, 200, { color }), 'cli');
      await t.services.sync.syncProfilePhoto(person, 'admin');
      return (await t.services.mail.currentEtag(person))!;
    };

    test('two people whose UPNs map to one SharePoint file name each get a name of their own, and keep it', async () => {
      // `@` and `.` both become `_`: both UPNs map to new_hire_contoso_example.
      const dotted = await t.addPerson('new.hire@contoso.example');
      const underscored = await t.addPerson('new_hire@contoso.example');
      // The later-added one syncs first: the order of syncs decides nothing.
      const underscoredEtag = await givePhoto(underscored, '#aa2233');
      const dottedEtag = await givePhoto(dotted, '#2233aa');

      const underscoredUrl = await pictureUrl(underscored);
      const dottedUrl = await pictureUrl(dotted);
      assert.ok(underscoredUrl && dottedUrl);
      assert.notEqual(dottedUrl, underscoredUrl, 'two people, two file names');
      assert.equal(
        dottedUrl,
        'http://photosync.test/User%20Photos/Profile%20Pictures/new_hire_contoso_example_MThumb.jpg',
        "the one added first has SharePoint's own name",
      );
      assert.equal(
        underscoredUrl,
        'http://photosync.test/User%20Photos/Profile%20Pictures/new_hire_contoso_example.2_MThumb.jpg',
        'the other the same with .2',
      );
      assert.equal(await sourceOf(underscoredUrl), underscoredEtag, 'new_hire@ sees their own photo');
      assert.equal(await sourceOf(dottedUrl), dottedEtag, 'new.hire@ sees their own photo');
      for (const size of ['S', 'L']) {
        assert.equal(await sourceOf(dottedUrl.replace('_MThumb', `_${size}Thumb`)), dottedEtag, `and their own ${size} file`);
      }

      // Stable: a new photo, a new sync, and names stay as they were.
      const newerEtag = await givePhoto(dotted, '#22aa33');
      assert.equal(await pictureUrl(dotted), dottedUrl, 'a new version keeps the name');
      assert.equal(await pictureUrl(underscored), underscoredUrl);
      assert.equal(await sourceOf(dottedUrl), newerEtag);
      assert.equal(await sourceOf(underscoredUrl), underscoredEtag);
    });

    test('a file asked for by its SharePoint name before anyone synced goes to one person, the same one every time', async () => {
      const first = await t.addPerson('pat.lee@contoso.example');
      const second = await t.addPerson('pat_lee@contoso.example');
      const plain = 'http://photosync.test/User%20Photos/Profile%20Pictures/pat_lee_contoso_example_MThumb.jpg';
      // Neither has a photo: the placeholder, made from the person it belongs to (their id picks its colour).
      const placeholder = async () =>
        String((await t.app.inject({ method: 'GET', url: new URL(plain).pathname, headers: bearer(viewer) })).headers.etag);
      const answer = await placeholder();
      assert.match(answer, /^"placeholder-/);
      assert.equal(await placeholder(), answer, 'the same person again');
      // Then both sync: the one who has that name keeps it, the other gets another.
      const secondEtag = await givePhoto(second, '#884422');
      const firstEtag = await givePhoto(first, '#228844');
      assert.equal(await pictureUrl(first), plain, 'the name went to the person added first');
      assert.equal(await sourceOf(plain), firstEtag);
      const other = await pictureUrl(second);
      assert.ok(other && other !== plain);
      assert.equal(await sourceOf(other), secondEtag);
    });

    test('an upgrade keeps the names already handed out: among people with a synced photo and one SharePoint name, the earliest added keeps it', async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-names-'));
      const postgres = kind === 'postgres' ? await createScratchPostgres() : undefined;
      const env = {
        DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
        PUBLIC_URL: 'http://photosync.test',
        ...(postgres && { DATABASE_URL: postgres.url }),
      };
      try {
        // A database as the version before names were stored left it (the tables of 0001–0003).
        const db = new Kysely<Schema>({
          dialect: postgres
            ? new PostgresDialect({ pool: new pg.Pool({ connectionString: postgres.url, max: 2 }) })
            : new SqliteDialect({ database: new SQLite(path.join(dataDir, 'photosync.db')) }),
        });
        const migrated = await new Migrator({ db, provider: migrationsFor(kind) }).migrateTo('0003_settings_audit_sync_status');
        assert.equal(migrated.error, undefined);
        const person = (id: string, upn: string, createdAt: string) => ({
          id,
          user_principal_name: upn,
          upn_key: upn,
          mail: null,
          mail_key: null,
          display_name: upn,
          enabled: 1,
          role: 'user' as const,
          password_hash: null,
          must_change_password: 0,
          directory_photo: null,
          created_at: createdAt,
          updated_at: createdAt,
        });
        const profile = (personId: string, syncedEtag: string | null) => ({
          person_id: personId,
          synced_etag: syncedEtag,
          picture_timestamp: '1700000000',
          last_checked_at: '2026-01-01T00:00:00.000Z',
          last_synced_at: syncedEtag && '2026-01-01T00:00:00.000Z',
          last_error: null,
          last_error_at: null,
          last_trigger: 'admin',
        });
        const ids = {
          never: '00000000-0000-4000-8000-000000000001',
          dotted: '00000000-0000-4000-8000-000000000002',
          underscored: '00000000-0000-4000-8000-000000000003',
          plain: '00000000-0000-4000-8000-000000000004',
          checked: '00000000-0000-4000-8000-000000000005',
        };
        await db
          .insertInto('people')
          .values([
            // Added first, but never synced: no name was ever handed out for them.
            person(ids.never, 'new.hire.contoso@example', '2025-01-01T00:00:00.000Z'),
            person(ids.underscored, 'new_hire@contoso.example', '2025-03-01T00:00:00.000Z'),
            person(ids.dotted, 'new.hire@contoso.example', '2025-02-01T00:00:00.000Z'),
            person(ids.plain, 'ada@contoso.example', '2025-04-01T00:00:00.000Z'),
            person(ids.checked, 'grace@contoso.example', '2025-05-01T00:00:00.000Z'),
          ])
          .execute();
        await db
          .insertInto('site_profiles')
          .values([
            profile(ids.underscored, 'etag-u'),
            profile(ids.dotted, 'etag-d'),
            profile(ids.plain, 'etag-a'),
            profile(ids.checked, null),
          ])
          .execute();
        await db.destroy();

        // The new version starts on it and migrates.
        const services = await createServices(loadConfig(env));
        try {
          const { sites, directory } = services;
          const names = Object.fromEntries(
            await Promise.all(
              Object.entries(ids).map(async ([key, id]) => [key, (await sites.getProfile(id))?.pictureName ?? null] as const),
            ),
          );
          assert.deepEqual(names, {
            never: null,
            dotted: 'new_hire_contoso_example',
            underscored: 'new_hire_contoso_example.2',
            plain: 'ada_contoso_example',
            checked: null,
          });
          for (const [key, name] of [
            ['dotted', 'new_hire_contoso_example'],
            ['underscored', 'new_hire_contoso_example.2'],
            ['plain', 'ada_contoso_example'],
          ] as const) {
            assert.equal((await sites.findByThumbnailFile(`${name}_MThumb.jpg`))?.person.id, ids[key], `${name} is found by its file name`);
          }
          // The one added first who never synced gets a name of their own when their photo comes.
          const never = (await directory.findPerson(ids.never))!;
          assert.equal(await sites.pictureNameFor(never), 'new_hire_contoso_example.3');
        } finally {
          await services.close();
        }
      } finally {
        await postgres?.drop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
