import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client, GraphError, HTTPMessageHandler, ResponseType, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import sharp from 'sharp';
import type { Person } from '../../src/directory/index.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { makePhoto } from '../support/images.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';

const ALL_SIZES = [648, 504, 432, 360, 240, 120, 96, 64, 48];

/**
 * The first step of the SDK's middleware chain. The SDK's own AuthenticationHandler adds a token only
 * on https:// URLs to known hosts, so a plain-http server needs this. It also keeps the headers of
 * each request it passes on, so a test can see what the SDK really sent.
 */
class BearerToken implements Middleware {
  readonly sent: Headers[] = [];
  private next: Middleware | undefined;

  constructor(private readonly token: string) {}

  async execute(context: Context): Promise<void> {
    const headers = new Headers(context.options?.headers);
    headers.set('Authorization', `Bearer ${this.token}`);
    context.options = { ...context.options, headers };
    this.sent.push(headers);
    await this.next!.execute(context);
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

interface SdkConnection {
  client: Client;
  /** The headers of every request this client sent, oldest first. */
  sent: Headers[];
}

function connectSdk(baseUrl: string, token: string): SdkConnection {
  const bearerToken = new BearerToken(token);
  bearerToken.setNext(new HTTPMessageHandler());
  return { client: Client.initWithMiddleware({ middleware: bearerToken, baseUrl, defaultVersion: 'v1.0' }), sent: bearerToken.sent };
}

/** A validator for assert.rejects: the SDK turned the server's answer into a GraphError. */
function graphError(expected: (error: GraphError) => void) {
  return (error: unknown) => {
    assert.ok(error instanceof GraphError, `expected a GraphError, got ${String(error)}`);
    expected(error);
    return true;
  };
}

/** An 800×800 JPEG that carries EXIF with a GPS position, as a phone photo would. */
async function makePhoneJpeg(): Promise<Buffer> {
  return sharp(await makePhoto('jpeg', 800, 800))
    .withExif({
      IFD0: { Make: 'TestPhone' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '52/1 22/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '4/1 53/1 0/1' },
    })
    .jpeg({ quality: 90 })
    .toBuffer();
}

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`the official Graph JS SDK against a running server on ${kind}`, { skip }, () => {
    let t: TestApp;
    let ada: Person;
    let grace: Person;
    let baseUrl: string;
    let adaSdk: SdkConnection;
    let graceSdk: SdkConnection;
    let adminSdk: SdkConnection;
    let upload: Buffer;

    before(async () => {
      t = await startTestApp(kind);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/`;
      ada = await t.addPerson('ada@contoso.example');
      grace = await t.addPerson('grace@contoso.example');
      const admin = await t.addPerson('admin@contoso.example', { role: 'admin' });
      adaSdk = connectSdk(baseUrl, await t.tokenFor(ada));
      graceSdk = connectSdk(baseUrl, await t.tokenFor(grace));
      adminSdk = connectSdk(baseUrl, await t.tokenFor(admin));
      upload = await makePhoneJpeg();
    });
    // Closing the app closes its listening server too.
    after(() => t?.close());

    test('a JPEG uploaded with put(bytes) is accepted although the SDK labels it application/json', async () => {
      await adaSdk.client.api('/me/photo/$value').put(upload);
      const request = adaSdk.sent.at(-1)!;
      assert.equal(request.get('content-type'), 'application/json');
      const metadata = await adaSdk.client.api('/me/photo').get();
      assert.equal(metadata.id, '648X648');
    });

    test("photo metadata read with get() has Graph's profilePhoto shape", async () => {
      const metadata = await adaSdk.client.api('/me/photo').get();
      assert.equal(metadata.id, '648X648');
      assert.equal(metadata.width, 648);
      assert.equal(metadata.height, 648);
      assert.equal(metadata['@odata.mediaContentType'], 'image/jpeg');
      assert.match(metadata['@odata.mediaEtag'], /^".+"$/);
    });

    test('another person downloads the photo bytes by userPrincipalName: a 648×648 JPEG without EXIF or GPS', async () => {
      assert.ok((await sharp(upload).metadata()).exif, 'the upload itself carries EXIF');
      const bytes = Buffer.from(
        await graceSdk.client.api(`/users/${ada.userPrincipalName}/photo/$value`).responseType(ResponseType.ARRAYBUFFER).get(),
      );
      const metadata = await sharp(bytes).metadata();
      assert.deepEqual([metadata.format, metadata.width, metadata.height], ['jpeg', 648, 648]);
      assert.equal(metadata.exif, undefined);
      assert.equal(bytes.includes('Exif\0\0'), false);
      assert.equal(bytes.includes('TestPhone'), false);
    });

    test('photos lists every stored size in a { value: [...] } collection', async () => {
      const photos = await graceSdk.client.api(`/users/${ada.userPrincipalName}/photos`).get();
      assert.ok(Array.isArray(photos.value));
      const sizes = photos.value.map((photo: { id: string; width: number; height: number }) => [photo.id, photo.width, photo.height]);
      assert.deepEqual(
        sizes,
        ALL_SIZES.map((size) => [`${size}X${size}`, size, size]),
      );
    });

    test('one size is downloaded from photos/48x48/$value as a 48×48 JPEG', async () => {
      const bytes = Buffer.from(await adaSdk.client.api('/me/photos/48x48/$value').responseType(ResponseType.ARRAYBUFFER).get());
      const metadata = await sharp(bytes).metadata();
      assert.deepEqual([metadata.format, metadata.width, metadata.height], ['jpeg', 48, 48]);
    });

    test("a person's upload to someone else's photo is refused as a GraphError 403", async () => {
      const before = await adaSdk.client.api('/me/photo').get();
      const other = await makePhoto('jpeg', 300, 300, { color: '#22aa44' });
      await assert.rejects(
        graceSdk.client.api(`/users/${ada.userPrincipalName}/photo/$value`).put(other),
        graphError((error) => {
          assert.equal(error.statusCode, 403);
          assert.equal(error.code, 'Authorization_RequestDenied');
        }),
      );
      const after = await adaSdk.client.api('/me/photo').get();
      assert.equal(after['@odata.mediaEtag'], before['@odata.mediaEtag']);
    });

    test("an admin sets another person's photo through users/{userPrincipalName}", async () => {
      await adminSdk.client.api(`/users/${grace.userPrincipalName}/photo/$value`).put(await makePhoto('png', 200, 200));
      const metadata = await graceSdk.client.api('/me/photo').get();
      assert.deepEqual([metadata.id, metadata.width, metadata.height], ['120X120', 120, 120]);
    });

    test('delete() removes the photo; reading it then rejects with GraphError 404 ImageNotFound', async () => {
      await adaSdk.client.api('/me/photo').delete();
      await assert.rejects(
        adaSdk.client.api('/me/photo').get(),
        graphError((error) => {
          assert.equal(error.statusCode, 404);
          assert.equal(error.code, 'ImageNotFound');
        }),
      );
    });

    test('an invalid token is refused as a GraphError 401', async () => {
      const stranger = connectSdk(baseUrl, 'psk_not-a-real-token');
      await assert.rejects(
        stranger.client.api(`/users/${grace.userPrincipalName}/photo`).get(),
        graphError((error) => {
          assert.equal(error.statusCode, 401);
          assert.equal(error.code, 'InvalidAuthenticationToken');
        }),
      );
    });

    test('a GIF or a text upload is refused as a 4xx GraphError with a code, and the photo stays', async () => {
      const before = await graceSdk.client.api('/me/photo').get();
      const gif = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#cc3366' } })
        .gif()
        .toBuffer();
      const text = Buffer.from('This is not a photo.\n');
      for (const [name, body] of [
        ['GIF', gif],
        ['text', text],
      ] as const) {
        await assert.rejects(
          graceSdk.client.api('/me/photo/$value').put(body),
          graphError((error) => {
            assert.ok(error.statusCode >= 400 && error.statusCode < 500, `${name}: status ${error.statusCode}`);
            assert.equal(typeof error.code, 'string', `${name}: the SDK found no code in the error body`);
          }),
        );
      }
      const after = await graceSdk.client.api('/me/photo').get();
      assert.equal(after['@odata.mediaEtag'], before['@odata.mediaEtag']);
    });
  });
}
