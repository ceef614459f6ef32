import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
// oidc-provider ships no types; the little used here is typed below.
// @ts-expect-error -- no declaration file
import ProviderModule from 'oidc-provider';

/** The parts of oidc-provider's Provider these tests use. */
interface OidcProvider {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<{ uid: string }>;
  interactionFinished(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    result: Record<string, unknown>,
    options: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  on(event: string, listener: () => void): void;
}
interface Grant {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}
/** What loadExistingGrant is given (the request's OIDC context). */
interface GrantContext {
  oidc: {
    result?: { consent?: { grantId?: string } };
    session: { accountId: string; grantIdFor(clientId: string): string | undefined };
    client: { clientId: string };
    params: { scope: string };
    provider: { Grant: { new (init: { clientId: string; accountId: string }): Grant; find(id: string): Promise<Grant | undefined> } };
  };
}
const Provider = ProviderModule as new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

/** A real OpenID Provider (oidc-provider 9) on a loopback port, for tests only. */
export interface TestOpenIdProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The people the provider can sign in: login name → their claims (sub is the login name). */
  accounts: Map<string, Record<string, unknown>>;
  /** Answers served by the provider's host at a path (pictures, redirects): path → response. */
  files: Map<string, { status?: number; headers?: Record<string, string>; body?: Buffer | string; delayMs?: number }>;
  /** Every request the provider saw (method and path), e.g. to see the sign-out arrive. */
  requests: string[];
  close(): Promise<void>;
}

export interface TestOpenIdProviderOptions {
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** How long ID tokens live (seconds). */
  idTokenTtlSeconds?: number;
}

/**
 * Starts the provider with one confidential client and its own small sign-in page at
 * /interaction/<uid>: a "User name" field (any account in `accounts`), "Sign in", and "Cancel"
 * (which answers access_denied). Consent is granted at once, as an organization's own app is.
 */
export async function startTestOpenIdProvider(options: TestOpenIdProviderOptions): Promise<TestOpenIdProvider> {
  const accounts = new Map<string, Record<string, unknown>>();
  const files: TestOpenIdProvider['files'] = new Map();
  const requests: string[] = [];
  const clientId = 'photosync-test';
  const clientSecret = 'a-test-client-secret-that-is-long-enough';
  // Made once the server listens: the issuer URL holds the port.
  let provider: OidcProvider | undefined;

  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const path = (req.url ?? '/').split('?')[0]!;
    const file = files.get(path);
    if (file) {
      setTimeout(() => {
        res.writeHead(file.status ?? 200, file.headers ?? { 'content-type': 'image/jpeg' });
        res.end(file.body ?? '');
      }, file.delayMs ?? 0).unref();
      return;
    }
    if (path.startsWith('/interaction/')) {
      interaction(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
      return;
    }
    void provider!.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        post_logout_redirect_uris: options.postLogoutRedirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['a-test-cookie-signing-key'] },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'picture', 'upn'], email: ['email', 'email_verified'] },
    // The claims go into the ID token itself (photosync reads only the ID token).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    ttl: {
      IdToken: options.idTokenTtlSeconds ?? 3600,
      AccessToken: 3600,
      AuthorizationCode: 600,
      Session: 3600,
      Interaction: 600,
      Grant: 3600,
    },
    async findAccount(_ctx: unknown, id: string) {
      const claims = accounts.get(id);
      if (!claims) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
    },
    // Consent is granted at once for every scope asked.
    async loadExistingGrant(ctx: GrantContext) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.params.scope);
      await grant.save();
      return grant;
    },
  });
  // Silence the provider's own error events (a test's bad request is expected, not news).
  provider.on('server_error', () => {});

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider!.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><title>Test provider sign-in</title></head><body>
        <h1>Test provider</h1>
        <form method="post" action="/interaction/${details.uid}">
          <label for="login">User name</label> <input id="login" name="login" autocomplete="off">
          <button type="submit" name="action" value="signin">Sign in at the provider</button>
          <button type="submit" name="action" value="cancel">Cancel</button>
        </form></body></html>`);
      return;
    }
    const body = new URLSearchParams(await readBody(req));
    if (body.get('action') === 'cancel') {
      await provider!.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'The person cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const login = body.get('login') ?? '';
    if (!accounts.has(login)) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`no test account ${login}`);
      return;
    }
    await provider!.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    files,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
