import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BearerToken } from '@pnp/queryable';
import { spfi, SPBrowser, type SPFI } from '@pnp/sp';
import type { IProfiles } from '@pnp/sp/profiles/index.js';
import '@pnp/sp/profiles/index.js';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR } from '../../src/identity/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

type KeyValue = { Key: string; Value: string };
// The package adds `profiles` to SPFI through a module augmentation that NodeNext resolution cannot see.
type SPWithProfiles = SPFI & { readonly profiles: IProfiles };

/**
 * PnPjs's setMyProfilePic reads the picture with the browser's FileReader, which Node lacks; a script
 * running PnPjs in Node supplies this much of it.
 */
class NodeFileReader {
  result: ArrayBuffer | null = null;
  onload: ((event: { target: NodeFileReader }) => void) | null = null;
  readAsArrayBuffer(blob: Blob): void {
    void blob.arrayBuffer().then((buffer) => {
      this.result = buffer;
      this.onload?.({ target: this });
    });
  }
}
(globalThis as { FileReader?: unknown }).FileReader ??= NodeFileReader;
const valueOf = (properties: KeyValue[], key: string) => properties.find((p) => p.Key === key)?.Value;

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the official PnPjs client (@pnp/sp) against a running server on ${kind}`, { skip }, () => {
    let t: TestApp;
    let base: string;
    let ada: Person;
    let sp: SPWithProfiles;
    const sent: { method: string; url: string; accept: string | null; contentType: string | null }[] = [];

    before(async () => {
      t = await startTestApp(kind);
      base = `${await t.app.listen({ port: 0, host: '127.0.0.1' })}/`;
      ada = await t.addPerson('ada.lovelace@contoso.example');
      await t.addPerson('grace.hopper@contoso.example');
      // PnPjs as a script would configure it: SharePoint defaults for a browser-like fetch, plus a bearer token.
      sp = spfi(base).using(SPBrowser(), BearerToken(await t.tokenFor(ada)), (instance) => {
        instance.on.send.prepend(async (url: URL, init: RequestInit) => {
          const headers = new Headers(init.headers as HeadersInit);
          sent.push({
            method: init.method ?? 'GET',
            url: url.toString(),
            accept: headers.get('accept'),
            contentType: headers.get('content-type'),
          });
          return fetch(url, init);
        });
        return instance;
      }) as SPWithProfiles;
    });
    after(() => t.close());

    test('myProperties shows the placeholder state before any sync', async () => {
      const me = await sp.profiles.myProperties();
      assert.equal(me.AccountName, 'i:0#.f|membership|ada.lovelace@contoso.example');
      assert.equal(me.DisplayName, 'Ada Lovelace');
      assert.equal(me.PictureUrl, null);
      const properties = me.UserProfileProperties as KeyValue[];
      assert.equal(valueOf(properties, 'SPS-PicturePlaceholderState'), '1');
      assert.equal(valueOf(properties, 'SPS-PictureExchangeSyncState'), '0');
      assert.equal(valueOf(properties, 'PictureURL'), '');
    });

    test('PnPjs sends lower-cased paths and JSON headers, and the server answers them', () => {
      const call = sent.find((s) => /getmyproperties/i.test(s.url));
      assert.ok(call, 'the request was recorded');
      assert.match(call.url, /\/_api\/sp\.userprofiles\.peoplemanager\/getmyproperties$/);
      assert.equal(call.accept, 'application/json');
      assert.equal(call.contentType, 'application/json;charset=utf-8');
    });

    test('getPropertiesFor returns another person by claims name', async () => {
      const grace = await sp.profiles.getPropertiesFor('i:0#.f|membership|grace.hopper@contoso.example');
      assert.equal(grace.DisplayName, 'Grace Hopper');
      assert.equal(grace.AccountName, 'i:0#.f|membership|grace.hopper@contoso.example');
      assert.equal(valueOf(grace.UserProfileProperties, 'SPS-PicturePlaceholderState'), '1');
    });

    test('getPropertiesFor an unknown person rejects with 404', async () => {
      await assert.rejects(sp.profiles.getPropertiesFor('i:0#.f|membership|nobody@contoso.example'), (error: { status?: number }) => {
        assert.equal(error.status, 404);
        return true;
      });
    });

    test('setMyProfilePic stores the photo in Mail and Sites shows it through PictureUrl', async () => {
      const jpeg = await makePhoto('jpeg', 500, 500, { color: '#2050c0' });
      await sp.profiles.setMyProfilePic(new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' }));
      const version = await t.services.mail.getPhoto(CLI_ACTOR, ada, { fresh: true });
      assert.equal(version.source, 'sites', 'Mail holds the photo, set through Sites');

      const me = await sp.profiles.myProperties();
      assert.equal(
        me.PictureUrl,
        `${new URL('/User%20Photos/Profile%20Pictures/ada_lovelace_contoso_example_MThumb.jpg', t.env.PUBLIC_URL).href}`,
      );
      const properties = me.UserProfileProperties as KeyValue[];
      assert.equal(valueOf(properties, 'SPS-PicturePlaceholderState'), '0');
      assert.equal(valueOf(properties, 'SPS-PictureExchangeSyncState'), '1');
      assert.equal(valueOf(properties, 'PhotoSync-SyncedMailETag'), version.etag);
      assert.match(valueOf(properties, 'SPS-PictureTimestamp') ?? '', /^\d+$/);

      const picture = await fetch(new URL(new URL(me.PictureUrl).pathname, base), {
        headers: { authorization: `Bearer ${await t.tokenFor(ada)}` },
      });
      assert.equal(picture.status, 200);
      assert.equal(picture.headers.get('content-type'), 'image/jpeg');
    });
  });
}
