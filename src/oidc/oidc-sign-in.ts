import { createHash } from 'node:crypto';
import type * as Client from 'openid-client';
import type { Logger } from 'pino';
import type { OidcConfig } from '../config.ts';
import type { DirectoryService, Person } from '../directory/index.ts';
import type { DirectoryPhotoIntake } from '../directory-photos/index.ts';
import { AppError, shown, type ErrorCode } from '../errors.ts';
import type { Actor, IdentityService, SignedIn } from '../identity/index.ts';
import type { PeopleLifecycle } from '../people/index.ts';
import { readPictureClaim, type PictureFetchOptions } from './picture-claim.ts';
import type { OidcSignInStore } from './sign-in-store.ts';

/** How long a person may take at the provider before the sign-in must start again. */
const SIGN_IN_TTL_MS = 10 * 60_000;
const PROVIDER_TIMEOUT_SECONDS = 10;
export const PICTURE_MAX_BYTES = 4 * 1024 * 1024;
const PICTURE_TIMEOUT_MS = 5000;

export type OidcFailureReason =
  | 'provider-unavailable'
  | 'provider-error'
  | 'bad-state'
  | 'expired'
  | 'unverified'
  | 'clock'
  | 'no-upn'
  | 'email-unverified'
  | 'domain'
  | 'unknown-person'
  | 'disabled';

/**
 * Whose failure it is: the sign-in has to start again (a stale or forged callback, a token that
 * cannot be checked), the person may not sign in here, or the provider failed us.
 */
export type OidcFailureKind = 'start-again' | 'refused' | 'provider-failed';

const CODE_OF_KIND = {
  'start-again': 'OidcSignInFailed',
  refused: 'OidcSignInRefused',
  'provider-failed': 'OidcProviderFailed',
} as const satisfies Record<OidcFailureKind, ErrorCode>;

/** An OIDC sign-in that did not work: a page in photosync's layout says why and offers to try again. */
export class OidcSignInFailed extends AppError {
  constructor(
    readonly reason: OidcFailureReason,
    readonly kind: OidcFailureKind,
    message: string,
  ) {
    super(CODE_OF_KIND[kind], message);
    this.link = { href: '/signin/oidc', text: 'Try again' };
  }
}

export interface OidcSignInOptions {
  config: OidcConfig;
  /** Where the provider sends the person back: `<publicUrl>/signin/oidc/callback`. */
  publicUrl: URL;
  store: OidcSignInStore;
  directory: DirectoryService;
  identity: IdentityService;
  /** Adds someone the provider signed in who is not in photosync yet (when the setting allows). */
  people: PeopleLifecycle;
  directoryPhotos: DirectoryPhotoIntake;
  log: Logger;
  now?: () => Date;
  /** Tests: a provider on plain http (loopback). */
  allowInsecureRequests?: boolean;
  picture?: Partial<PictureFetchOptions>;
}

export interface OidcSignedIn extends SignedIn {
  /** The page the person first asked for (a same-origin path), or undefined. */
  returnTo: string | undefined;
  /** For RP-initiated sign-out (id_token_hint). */
  idToken: string | undefined;
}

let openIdClientModule: Promise<typeof Client> | undefined;
/** Loaded at the first sign-in: the CLI, and a server without OIDC, never load it. */
const openIdClient = () => (openIdClientModule ??= import('openid-client'));

const OIDC_ACTOR: Actor = { kind: 'operator', name: 'oidc' };
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * Sign-in through the organization's OpenID Provider: authorization code with PKCE, state and nonce
 * (the verifier and nonce kept server-side, so any server process finishes what another started).
 * The provider vouches for the person; photosync still decides who may come in.
 */
export class OidcSignIn {
  private configuration: Promise<Client.Configuration> | undefined;
  private readonly now: () => Date;
  private readonly pictures = new Set<Promise<void>>();
  readonly redirectUri: URL;

  constructor(private readonly options: OidcSignInOptions) {
    this.now = options.now ?? (() => new Date());
    this.redirectUri = new URL('/signin/oidc/callback', options.publicUrl);
  }

  get buttonLabel(): string {
    return this.options.config.buttonLabel;
  }

  /** The provider's authorization URL for a new sign-in, and the state the browser keeps in a cookie. */
  async start(returnTo: string | undefined): Promise<{ authorizationUrl: URL; state: string }> {
    const configuration = await this.discover();
    const client = await openIdClient();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const now = this.now();
    await this.options.store.deleteExpired(now);
    await this.options.store.insert(
      sha256(state),
      { codeVerifier, nonce, returnTo: returnTo ?? null, expiresAt: new Date(now.getTime() + SIGN_IN_TTL_MS).toISOString() },
      now,
    );
    const authorizationUrl = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri.href,
      scope: this.options.config.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { authorizationUrl, state };
  }

  /**
   * The provider's answer at the callback: checks state, code, PKCE, nonce and the ID token, finds
   * (or adds) the person by their UPN claim and starts their photosync session. `browserState` is
   * the state from the browser's cookie (a callback without it came from another browser).
   */
  async finish(callbackUrl: URL, browserState: string | undefined, ip?: string): Promise<OidcSignedIn> {
    const params = callbackUrl.searchParams;
    const state = params.get('state') ?? '';
    if (params.has('error')) {
      if (state && state === browserState) await this.options.store.take(sha256(state));
      const error = shown(params.get('error')!, 60);
      const description = params.get('error_description');
      throw this.fail(
        'provider-error',
        'refused',
        error === 'access_denied'
          ? `The sign-in was cancelled or refused at the organization's sign-in page${description ? ` (${shown(description, 200)})` : ''}.`
          : `The organization's sign-in page answered with an error: ${error}${description ? ` (${shown(description, 200)})` : ''}.`,
        { error, description },
      );
    }
    if (!state || !browserState || state !== browserState) {
      throw this.fail(
        'bad-state',
        'start-again',
        'This sign-in did not start in this browser, or it was already used. Start again from the sign-in page.',
        { hasState: Boolean(state), hasCookie: Boolean(browserState) },
      );
    }
    const pending = await this.options.store.take(sha256(state));
    if (!pending || pending.expiresAt <= this.now().toISOString()) {
      throw this.fail('expired', 'start-again', 'This sign-in took too long or was already used. Start again from the sign-in page.', {});
    }
    const configuration = await this.discover();
    const client = await openIdClient();
    let tokens: Awaited<ReturnType<typeof Client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw this.classifyGrantError(error);
    }
    const claims = tokens.claims();
    if (!claims) throw this.fail('unverified', 'provider-failed', "The organization's sign-in sent no ID token.", {});
    const upn = claims[this.options.config.upnClaim];
    if (typeof upn !== 'string' || !upn.includes('@')) {
      throw this.fail(
        'no-upn',
        'refused',
        `The organization's sign-in did not say who you are: its answer has no user name in the "${this.options.config.upnClaim}" claim. Ask an admin to check the OIDC settings.`,
        { sub: claims.sub, claim: this.options.config.upnClaim },
      );
    }
    // An address the provider has not verified names nobody: anyone could have typed it in.
    if (this.options.config.upnClaim === 'email' && claims.email_verified === false) {
      throw this.fail(
        'email-unverified',
        'refused',
        `The organization's sign-in has not verified the address ${shown(upn)}, so it cannot say who you are here. Verify it there, then try again.`,
        { upn },
      );
    }
    const domain = upn.slice(upn.lastIndexOf('@') + 1).toLowerCase();
    const { allowedDomains } = this.options.config;
    if (allowedDomains.length > 0 && !allowedDomains.includes(domain)) {
      throw this.fail(
        'domain',
        'refused',
        `${shown(upn)} cannot sign in here: only accounts of ${allowedDomains.join(', ')} can. Sign in with your account of the organization.`,
        { upn, domain },
      );
    }
    const person = await this.findOrAddPerson(upn, claims);
    if (person.enabled === false) {
      throw this.fail(
        'disabled',
        'refused',
        `${person.userPrincipalName} is disabled in photosync and cannot sign in. Ask an admin if this is a mistake.`,
        { upn: person.userPrincipalName },
      );
    }
    const signedIn = await this.options.identity.signInVouchedFor(person, {
      source: 'oidc',
      ip,
      detail: `signed in through OIDC (${this.options.config.issuer.host}, ${this.options.config.upnClaim})`,
    });
    this.receivePicture(person, claims.picture);
    return { ...signedIn, returnTo: pending.returnTo ?? undefined, idToken: tokens.id_token };
  }

  /** The provider's sign-out page (RP-initiated logout), when it has one; it sends the person back to sign-in. */
  async endSessionUrl(idToken: string | undefined): Promise<URL | undefined> {
    let configuration: Client.Configuration;
    try {
      configuration = await this.discover();
    } catch {
      return undefined;
    }
    if (!configuration.serverMetadata().end_session_endpoint) return undefined;
    return (await openIdClient()).buildEndSessionUrl(configuration, {
      post_logout_redirect_uri: new URL('/signin', this.options.publicUrl).href,
      ...(idToken ? { id_token_hint: idToken } : { client_id: this.options.config.clientId }),
    });
  }

  /** Waits for the pictures being fetched after sign-ins (tests, shutdown). */
  async picturesSettled(): Promise<void> {
    while (this.pictures.size > 0) await Promise.allSettled([...this.pictures]);
  }

  private async findOrAddPerson(upn: string, claims: Client.IDToken): Promise<Person> {
    // Read fresh: a person disabled a moment ago in another process is seen as disabled.
    const existing = await this.options.directory.findByUpnOrMail(upn, { fresh: true });
    if (existing && existing.userPrincipalName.toLowerCase() === upn.toLowerCase()) return existing;
    if (!this.options.config.createPeople) {
      throw this.fail('unknown-person', 'refused', `${shown(upn)} has no account in photosync yet. Ask an admin to add you.`, { upn });
    }
    const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
    const mail = text(claims.email);
    const displayName = text(claims.name);
    // Added by the sign-in itself (audited as such), with no password: they sign in through the provider.
    const person = await this.options.people.add(OIDC_ACTOR, {
      userPrincipalName: upn,
      ...(displayName && { displayName }),
      ...(mail && /^[^@\s]+@[^@\s]+$/.test(mail) && { mail }),
    });
    this.options.log.info({ upn: person.userPrincipalName }, 'added a person at their first OIDC sign-in');
    return person;
  }

  /** The picture claim, as a directory photo: fetched and decided on after the sign-in, never blocking it. */
  private receivePicture(person: Person, claim: unknown): void {
    const log = this.options.log;
    const work = (async () => {
      const bytes =
        claim === undefined || claim === null
          ? null
          : await readPictureClaim(claim, { timeoutMs: PICTURE_TIMEOUT_MS, maxBytes: PICTURE_MAX_BYTES, ...this.options.picture });
      const result = await this.options.directoryPhotos.receive(person, bytes, 'oidc');
      log.debug({ upn: person.userPrincipalName, outcome: result.outcome, reason: result.reason }, 'OIDC picture received');
    })()
      .catch((error: unknown) => {
        log.warn(
          { upn: person.userPrincipalName, reason: error instanceof Error ? error.message : String(error) },
          'the picture from the OIDC sign-in could not be used; the sign-in went on without it',
        );
      })
      .finally(() => this.pictures.delete(work));
    this.pictures.add(work);
  }

  private discover(): Promise<Client.Configuration> {
    if (!this.configuration) {
      const { config } = this.options;
      const now = this.now;
      // The server's clock is injectable (tests); the library judges token times against it.
      const skew = Math.round((now().getTime() - Date.now()) / 1000);
      this.configuration = openIdClient()
        .then((client) =>
          client.discovery(
            config.issuer,
            config.clientId,
            {
              ...(config.clientSecret !== undefined && { client_secret: config.clientSecret }),
              ...(skew !== 0 && { [client.clockSkew]: skew }),
            },
            config.clientSecret === undefined ? client.None() : undefined,
            {
              timeout: PROVIDER_TIMEOUT_SECONDS,
              ...(this.options.allowInsecureRequests && { execute: [client.allowInsecureRequests] }),
            },
          ),
        )
        .catch((error: unknown) => {
          // Not remembered: the next sign-in asks the provider again.
          this.configuration = undefined;
          throw this.fail(
            'provider-unavailable',
            'provider-failed',
            "The organization's sign-in service cannot be reached right now. Try again in a few minutes; if it goes on, tell an admin.",
            { issuer: config.issuer.href, cause: describeError(error) },
          );
        });
    }
    return this.configuration;
  }

  private classifyGrantError(error: unknown): OidcSignInFailed {
    if (error instanceof OidcSignInFailed) return error;
    const code = (error as { code?: string }).code;
    const message = describeError(error);
    if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') {
      return this.fail(
        'clock',
        'start-again',
        "The sign-in could not be checked: the organization's sign-in token is expired or not valid yet, so this server's clock and the provider's may disagree. Try again; if it goes on, tell an admin.",
        { cause: message },
      );
    }
    if (
      code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' ||
      code === 'OAUTH_RESPONSE_BODY_ERROR' ||
      code === 'OAUTH_INVALID_RESPONSE' ||
      code?.startsWith('OAUTH_')
    ) {
      return this.fail(
        'unverified',
        'start-again',
        "The answer from the organization's sign-in could not be verified, so you are not signed in. Start again from the sign-in page.",
        { code, cause: message },
      );
    }
    return this.fail(
      'provider-unavailable',
      'provider-failed',
      "The organization's sign-in service cannot be reached right now. Try again in a few minutes; if it goes on, tell an admin.",
      { cause: message },
    );
  }

  private fail(reason: OidcFailureReason, kind: OidcFailureKind, message: string, detail: Record<string, unknown>): OidcSignInFailed {
    this.options.log.warn({ reason, ...detail }, `OIDC sign-in refused: ${reason}`);
    return new OidcSignInFailed(reason, kind, message);
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
