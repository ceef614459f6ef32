import net from 'node:net';
import { runOutcome } from './sync-fixtures.ts';
import type { LightMyRequestResponse } from 'fastify';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR, ensureFirstAdmin, SESSION_COOKIE } from '../../src/identity/index.ts';
import { photoContentEtag } from '../../src/mail/index.ts';
import type { DatabaseKind } from './databases.ts';
import { makePhoto } from './images.ts';
import { multipart } from './multipart.ts';
import { cookiesOf, startTestApp, TEST_PASSWORD, type TestApp } from './test-app.ts';

/**
 * The actors of the access-rule table, in its column order. Each is a real credential made the way
 * a client gets one: a session from the sign-in form, a token as `photosync tokens create` makes it.
 */
export const ACTORS = [
  'anonymous',
  'person',
  'otherPerson',
  'admin',
  'personToken',
  'adminToken',
  'revokedToken',
  'expiredSession',
  'oneTimeAdmin',
  'adminScopedToken',
  'expiredToken',
] as const;
export type ActorName = (typeof ACTORS)[number];

export interface ActorCredentials {
  /** Whose credential it is: "own" in the table means this person (for anonymous: a name in the URL, nobody's own). */
  self: Person;
  /** The person "other" means. */
  other: Person;
  /** The photosync_session cookie value sent, if any. */
  sessionToken?: string;
  /** The bearer token sent, if any. */
  bearer?: string;
  /** A live session that cells may end (sign-out, sign-in, password change); it is re-established after them. */
  keepsSession: boolean;
  /** The password `self` signs in with (a one-time password for oneTimeAdmin); TEST_PASSWORD unless set. */
  password?: string;
}

export interface CellRequest {
  url: string;
  headers?: Record<string, string>;
  payload?: Buffer | string;
  /** An urlencoded form; `_csrf` is added unless a cell asks for it to be left out. */
  form?: Record<string, string>;
  /** A multipart form; `_csrf` is added as a field unless a cell asks for it to be left out. */
  multipart?: { fields?: Record<string, string>; file?: { name: string; filename: string; type: string; bytes: Buffer } };
}

export interface World {
  t: TestApp;
  people: { ada: Person; grace: Person; root: Person };
  actors: Record<ActorName, ActorCredentials>;
  /** One CSRF secret cookie; its tokens are bound to a session, so each is made for the session cookie sent with it. */
  csrf: { cookie: string; tokenFor(sessionToken: string | undefined): Promise<string> };
  photos: { a: Buffer; b: Buffer; etagA: string; etagB: string };
  /** A finished force-sync run, for the /admin/runs/:id routes. */
  runId: string;
  currentEtag(person: Person): Promise<string | null>;
  /** Gives the person photo A (or B), or any photo; only renders when the current one differs. */
  ensurePhoto(person: Person, which: 'a' | 'b' | 'any'): Promise<void>;
  /** Re-creates any session a cell ended (by signing the person in again), so cells stay order-independent. */
  ensureSessions(): Promise<void>;
  /** `csrf: false` leaves the form's token out; `csrfCookie: false` also the CSRF secret cookie. */
  send(
    actor: ActorName,
    method: string,
    request: CellRequest,
    options?: { csrf?: boolean; csrfCookie?: boolean },
  ): Promise<LightMyRequestResponse>;
  /**
   * The same request over a real socket, holding its body back: the headers declare the body plus
   * `extraBytes` more, only the first half of the body is sent, and the rest never comes. Resolves
   * with the answer that arrives meanwhile, or undefined when none comes within `waitMs` (the server
   * is waiting for the body). The connection is closed after either.
   */
  sendWithheldBody(
    actor: ActorName,
    method: string,
    request: CellRequest,
    options: { extraBytes: number; waitMs: number },
  ): Promise<LightMyRequestResponse | undefined>;
  close(): Promise<void>;
}

const sessionIn = (cookies: string) => /photosync_session=([^;]+)/.exec(cookies)?.[1];

/**
 * One app per database kind with every actor signed in once. The app runs on a clock the test
 * controls, so one session can be signed in (and a token made to last an hour), then left to expire
 * by moving the clock past SESSION_TTL_HOURS before everyone else signs in.
 */
export async function createAccessWorld(kind: DatabaseKind): Promise<World> {
  let clock = new Date();
  // An LDAP directory nobody answers at: "Sync now" records a failed run, quickly.
  const t = await startTestApp(kind, { LDAP_URL: 'ldap://127.0.0.1:1', LDAP_BASE_DN: 'dc=contoso,dc=example' }, { now: () => clock });
  const { identity, mail } = t.services;

  // The installation's first admin, with the one-time password a fresh start prints (not changed yet).
  const firstAdmin = await ensureFirstAdmin(t.services.directory, identity, { userPrincipalName: 'first.admin@contoso.example' });
  if (!firstAdmin.created || !firstAdmin.oneTimePassword) throw new Error('no first admin with a one-time password');
  const ada = await t.addPerson('ada@contoso.example');
  const grace = await t.addPerson('grace@contoso.example');
  const root = await t.addPerson('root@contoso.example', { role: 'admin' });

  // Sessions expire when expires_at <= now; expires_at is the sign-in (or last touch) plus the TTL.
  const expired = sessionIn(await t.signIn(ada.userPrincipalName))!;
  if (!(await identity.resolveSession(expired))) throw new Error('the session to expire does not work to begin with');
  const expiredToken = (await identity.createApiToken(CLI_ACTOR, ada, 'expired in the access-rule test', { expiresInMs: 3_600_000 })).token;
  await identity.authenticateBearer(expiredToken);
  clock = new Date(clock.getTime() + t.services.config.sessionTtlHours * 3_600_000 + 60_000);

  const session = async (person: Person, password?: string) => sessionIn(await t.signIn(person.userPrincipalName, password))!;
  const revoked = await identity.createApiToken(CLI_ACTOR, ada, 'revoked in the access-rule test');
  await identity.revokeApiToken(CLI_ACTOR, revoked.id);
  if ((await identity.listApiTokens(CLI_ACTOR)).find((token) => token.id === revoked.id)?.revokedAt == null) {
    throw new Error('the revoked token is not listed as revoked');
  }

  const actors: Record<ActorName, ActorCredentials> = {
    anonymous: { self: ada, other: grace, keepsSession: false },
    person: { self: ada, other: grace, sessionToken: await session(ada), keepsSession: true },
    otherPerson: { self: grace, other: ada, sessionToken: await session(grace), keepsSession: true },
    admin: { self: root, other: ada, sessionToken: await session(root), keepsSession: true },
    personToken: { self: ada, other: grace, bearer: await t.tokenFor(ada), keepsSession: false },
    // An admin's token as `tokens create` makes it by default: the photos scope.
    adminToken: { self: root, other: ada, bearer: await t.tokenFor(root), keepsSession: false },
    // A revoked token sent together with a valid session cookie of the same person: the token must not fall back to it.
    revokedToken: { self: ada, other: grace, bearer: revoked.token, sessionToken: await session(ada), keepsSession: true },
    expiredSession: { self: ada, other: grace, sessionToken: expired, keepsSession: false },
    // Signed in with the one-time password, not changed yet.
    oneTimeAdmin: {
      self: firstAdmin.person,
      other: ada,
      sessionToken: await session(firstAdmin.person, firstAdmin.oneTimePassword),
      keepsSession: true,
      password: firstAdmin.oneTimePassword,
    },
    adminScopedToken: {
      self: root,
      other: ada,
      bearer: (await identity.createApiToken(CLI_ACTOR, root, 'admin scope', { scope: 'admin' })).token,
      keepsSession: false,
    },
    // Like the revoked token: an expired one sent with a valid session cookie of the same person.
    expiredToken: { self: ada, other: grace, bearer: expiredToken, sessionToken: await session(ada), keepsSession: true },
  };

  const form = await t.app.inject({ method: 'GET', url: '/signin' });
  if (!/name="_csrf" value="([^"]+)"/.test(form.body)) throw new Error('no CSRF token on the sign-in page');
  const csrfCookie = cookiesOf(form);
  const csrfTokens = new Map<string, string>();
  const csrf = {
    cookie: csrfCookie,
    /** A token from a page shown to this session cookie (or none): the sign-in page, or the password page for a live session. */
    async tokenFor(sessionToken: string | undefined): Promise<string> {
      const key = sessionToken ?? '';
      const known = csrfTokens.get(key);
      if (known) return known;
      const cookie = [csrfCookie, ...(sessionToken ? [`${SESSION_COOKIE}=${sessionToken}`] : [])].join('; ');
      let page = await t.app.inject({ method: 'GET', url: '/signin', headers: { cookie } });
      if (page.statusCode !== 200) page = await t.app.inject({ method: 'GET', url: '/account/password', headers: { cookie } });
      const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
      if (!token) throw new Error(`no page with a CSRF token for the session ${key || '(none)'}: ${page.statusCode}`);
      csrfTokens.set(key, token);
      return token;
    },
  };

  const a = await makePhoto('jpeg', 120, 120, { color: '#3366cc', marker: '#ff0000' });
  const b = await makePhoto('jpeg', 96, 96, { color: '#22aa55', marker: '#ffee00' });
  const photos = { a, b, etagA: photoContentEtag(a), etagB: photoContentEtag(b) };

  let listening: Promise<number> | undefined;
  const world: World = {
    t,
    people: { ada, grace, root },
    actors,
    csrf,
    photos,
    runId: '',
    currentEtag: (person) => mail.currentEtag(person),
    async ensurePhoto(person, which) {
      const current = await mail.currentEtag(person);
      if (which === 'any' ? current !== null : current === (which === 'a' ? photos.etagA : photos.etagB)) return;
      await mail.setPhoto(CLI_ACTOR, person, which === 'b' ? b : a, 'cli');
    },
    async ensureSessions() {
      for (const credentials of Object.values(actors)) {
        if (!credentials.keepsSession || !credentials.sessionToken) continue;
        if (await identity.resolveSession(credentials.sessionToken)) continue;
        credentials.sessionToken = (
          await identity.signIn(credentials.self.userPrincipalName, credentials.password ?? TEST_PASSWORD)
        ).sessionToken;
      }
    },
    async send(actor, method, request, options = {}) {
      const { headers, payload } = await requestParts(actor, request, options);
      const injected = await t.app.inject({
        method: method as 'GET',
        url: request.url,
        headers,
        ...(payload !== undefined && { payload }),
      });
      if (method !== 'GET' || payload !== undefined) return injected;
      // A read again over real HTTP, the way the server receives it: the hot photo reads, their
      // caches now warm from the first, are then answered from memory (web/photo-fast-path.ts).
      listening ??= t.app.listen({ port: 0, host: '127.0.0.1' }).then((address) => Number(new URL(address).port));
      const socket = net.connect(await listening, '127.0.0.1');
      try {
        socket.on('error', () => {});
        const head = [
          `GET ${request.url} HTTP/1.1`,
          'Host: photosync.test',
          'Connection: close',
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        ];
        socket.write(`${head.join('\r\n')}\r\n\r\n`);
        const answer = await readResponse(socket, 30_000);
        if (!answer) throw new Error(`no answer over HTTP to GET ${request.url}`);
        return answer;
      } finally {
        socket.destroy();
      }
    },
    async sendWithheldBody(actor, method, request, options) {
      const { headers, payload } = await requestParts(actor, request, {});
      const body = Buffer.from(payload ?? '');
      listening ??= t.app.listen({ port: 0, host: '127.0.0.1' }).then((address) => Number(new URL(address).port));
      const socket = net.connect(await listening, '127.0.0.1');
      try {
        socket.on('error', () => {});
        const head = [`${method} ${request.url} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
        head.push(`Content-Length: ${body.length + options.extraBytes}`);
        socket.write(`${head.join('\r\n')}\r\n\r\n`);
        socket.write(body.subarray(0, Math.ceil(body.length / 2)));
        return await readResponse(socket, options.waitMs);
      } finally {
        socket.destroy();
      }
    },
    close: () => t.close(),
  };

  /** Headers and body of a cell's request as the actor sends it (their credentials, the form's CSRF token). */
  async function requestParts(actor: ActorName, request: CellRequest, options: { csrf?: boolean; csrfCookie?: boolean }) {
    const credentials = actors[actor];
    const withCsrf = options.csrf ?? true;
    const token = withCsrf && (request.form || request.multipart) ? await csrf.tokenFor(credentials.sessionToken) : '';
    const headers: Record<string, string> = { ...request.headers };
    const cookies: string[] = [];
    let payload = request.payload;
    if ((request.form || request.multipart) && (options.csrfCookie ?? true)) cookies.push(csrf.cookie);
    if (credentials.sessionToken) cookies.push(`${SESSION_COOKIE}=${credentials.sessionToken}`);
    if (credentials.bearer) headers.authorization = `Bearer ${credentials.bearer}`;
    if (request.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams({ ...(withCsrf && { _csrf: token }), ...request.form }).toString();
    }
    if (request.multipart) {
      const body = multipart({ ...(withCsrf && { _csrf: token }), ...request.multipart.fields }, request.multipart.file);
      headers['content-type'] = body.contentType;
      payload = body.payload;
    }
    if (cookies.length) headers.cookie = cookies.join('; ');
    return { headers, payload };
  }

  // Every person starts with a Mail photo; a finished run gives the run pages something to show.
  for (const person of [ada, grace, root]) await world.ensurePhoto(person, 'a');
  world.runId = await t.services.syncAdmin.startSyncAll(CLI_ACTOR, { staleOnly: false });
  await runOutcome(t, world.runId);
  return world;
}

/**
 * The outcome notation of the table, checked against a response:
 *   `200 json` · `200 html` · `200 image` (exactly image/jpeg or image/png, nosniff) · `200 events` ·
 *   `200` / `204` (status only) · `303 → /path` (Location exactly) · `303 → /prefix*` (Location starts so) ·
 *   `401 graph` / `403 graph` / `404 graph` (Graph's error body, application/json) · `403 html` / `401 html` (an error page).
 * Returns what differs (empty: as expected). HEAD answers are held to the same status and headers, without a body.
 */
export function outcomeProblems(response: LightMyRequestResponse, expected: string, method: string): string[] {
  const match = /^(\d{3})(?: (json|html|image|events|graph)| → (\S+))?$/.exec(expected);
  if (!match) throw new Error(`unknown outcome notation "${expected}"`);
  const [, status, kind, location] = match;
  const problems: string[] = [];
  const type = String(response.headers['content-type'] ?? '');
  const head = method === 'HEAD';
  if (response.statusCode !== Number(status)) problems.push(`status ${response.statusCode}, not ${status}`);
  if (location !== undefined) {
    const actual = String(response.headers.location ?? '');
    const ok = location.endsWith('*') ? actual.startsWith(location.slice(0, -1)) : actual === location;
    if (!ok) problems.push(`Location "${actual}", not "${location}"`);
  }
  if (kind === 'json' || kind === 'graph') {
    if (type.split(';')[0] !== 'application/json') problems.push(`Content-Type "${type}", not application/json`);
  }
  if (kind === 'graph' && !head) {
    const code = { 401: 'InvalidAuthenticationToken', 403: 'Authorization_RequestDenied', 404: undefined }[Number(status)];
    let body: { error?: { code?: unknown; message?: unknown } } | undefined;
    try {
      body = response.json();
    } catch {
      body = undefined;
    }
    if (typeof body?.error?.message !== 'string') problems.push('no Graph error body');
    else if (code && body.error.code !== code) problems.push(`error code ${String(body.error.code)}, not ${code}`);
  }
  if (kind === 'html' && !type.startsWith('text/html')) problems.push(`Content-Type "${type}", not text/html`);
  if (kind === 'events' && !type.startsWith('text/event-stream')) problems.push(`Content-Type "${type}", not text/event-stream`);
  if (kind === 'image') problems.push(...imageHeaderProblems(response, method));
  return problems;
}

/** An image answer: an exact image Content-Type (no parameters) that its bytes agree with, never sniffed. */
export function imageHeaderProblems(response: LightMyRequestResponse, method: string): string[] {
  const problems: string[] = [];
  const type = String(response.headers['content-type'] ?? '');
  if (type !== 'image/jpeg' && type !== 'image/png') problems.push(`Content-Type "${type}", not exactly image/jpeg or image/png`);
  if (response.headers['x-content-type-options'] !== 'nosniff') problems.push('no X-Content-Type-Options: nosniff');
  if (method !== 'HEAD' && response.statusCode === 200) {
    const bytes = response.rawPayload;
    const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
    const isPng = bytes.subarray(0, 4).toString('latin1') === '\x89PNG';
    if (type === 'image/jpeg' && !isJpeg) problems.push('the bytes are not a JPEG');
    if (type === 'image/png' && !isPng) problems.push('the bytes are not a PNG');
  }
  return problems;
}

/** A portal (or documentation) page's security headers, and a body without inline script. */
export function pageHeaderProblems(response: LightMyRequestResponse, method: string): string[] {
  const problems: string[] = [];
  const csp = String(response.headers['content-security-policy'] ?? '');
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map((d) => [d[0]!.toLowerCase(), d.slice(1)] as const),
  );
  if (!csp) problems.push('no Content-Security-Policy');
  else {
    const scripts = directives.get('script-src') ?? directives.get('default-src');
    if (!scripts) problems.push('the CSP restricts no script (neither script-src nor default-src)');
    else if (scripts.includes("'unsafe-inline'") || scripts.includes('*'))
      problems.push(`the CSP allows inline or any script: script-src ${scripts.join(' ')}`);
    const frames = directives.get('frame-ancestors');
    if (!frames) problems.push('the CSP has no frame-ancestors');
    else if (frames.includes('*')) problems.push(`frame-ancestors ${frames.join(' ')} lets any site frame the page`);
  }
  if (response.headers['x-content-type-options'] !== 'nosniff') problems.push('no X-Content-Type-Options: nosniff');
  if (!response.headers['referrer-policy']) problems.push('no Referrer-Policy');
  if (method !== 'HEAD') {
    const inline = /<script\b(?![^>]*\bsrc\s*=)[^>]*>/i.exec(response.body);
    if (inline) problems.push(`an inline script in the body: ${inline[0]}`);
    const handler = /<[a-z][^>]*\son[a-z]+\s*=/i.exec(response.body);
    if (handler) problems.push(`an inline event handler in the body: ${handler[0].slice(0, 80)}`);
  }
  return problems;
}

/**
 * One HTTP/1.1 answer read off a socket (Content-Length or chunked), shaped like app.inject's so the
 * table's checks apply to it; undefined when none has come within `waitMs`.
 */
function readResponse(socket: net.Socket, waitMs: number): Promise<LightMyRequestResponse | undefined> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const finish = (response: LightMyRequestResponse | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(response);
    };
    const timer = setTimeout(() => finish(undefined), waitMs);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...fields] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string | string[]> = {};
      for (const field of fields) {
        const name = field.slice(0, field.indexOf(':')).toLowerCase();
        const value = field.slice(field.indexOf(':') + 1).trim();
        const before = headers[name];
        headers[name] = before === undefined ? value : ([] as string[]).concat(before, value);
      }
      let rest = received.subarray(end + 4);
      let payload: Buffer | undefined;
      if (String(headers['transfer-encoding'] ?? '').includes('chunked')) {
        const chunks: Buffer[] = [];
        for (;;) {
          const lineEnd = rest.indexOf('\r\n');
          if (lineEnd < 0) return;
          const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
          if (rest.length < lineEnd + 2 + size + 2) return;
          if (size === 0) break;
          chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          rest = rest.subarray(lineEnd + 2 + size + 2);
        }
        payload = Buffer.concat(chunks);
      } else {
        const length = Number(headers['content-length'] ?? 0);
        if (rest.length < length) return;
        payload = rest.subarray(0, length);
      }
      const text = payload.toString('utf8');
      finish({
        statusCode: Number(statusLine!.split(' ')[1]),
        headers,
        rawPayload: payload,
        payload: text,
        body: text,
        json: () => JSON.parse(text),
      } as unknown as LightMyRequestResponse);
    };
    socket.on('data', onData);
  });
}

/** A short account of a response for a failure message. */
export function describeResponse(response: LightMyRequestResponse): string {
  const parts = [`${response.statusCode}`, String(response.headers['content-type'] ?? '(no Content-Type)')];
  if (response.headers.location) parts.push(`→ ${String(response.headers.location)}`);
  const type = String(response.headers['content-type'] ?? '');
  if (type.startsWith('application/json')) parts.push(response.body.slice(0, 160));
  else if (type.startsWith('text/html')) {
    const alert = /role="alert">([^<]{1,160})</.exec(response.body)?.[1];
    if (alert) parts.push(`"${alert}"`);
  }
  return parts.join(' ');
}
