import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { NotFound } from '../errors.ts';
import { httpStatusOf } from '../http/index.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import { OidcSignInFailed, type OidcSignIn } from '../oidc/index.ts';
import { html } from './html.ts';
import { createPageRendering, signInPage } from './page-rendering.ts';
import { safeNext } from './portal-routes.ts';

export interface OidcRouteOptions {
  oidc: OidcSignIn | undefined;
  auth: RequestAuthentication;
  secureCookies: boolean;
  /** Sign-in attempts per client address in a minute (each start stores a pending sign-in). */
  signInAttemptsPerMinute: number;
}

/** The state of a sign-in under way. Lax, not Strict: the provider's redirect back is a cross-site top-level GET. */
const STATE_COOKIE = 'photosync_oidc_state';
const STATE_COOKIE_PATH = '/signin/oidc';
/** The ID token, for the provider's sign-out (id_token_hint); only the sign-out form's path gets it. */
const ID_TOKEN_COOKIE = 'photosync_oidc_id';
const ID_TOKEN_COOKIE_PATH = '/signout';

const StartQuery = Type.Object({ next: Type.Optional(Type.String({ maxLength: 2048 })) });
const CallbackQuery = Type.Object(
  {
    code: Type.Optional(Type.String({ maxLength: 4096 })),
    state: Type.Optional(Type.String({ maxLength: 1024 })),
    error: Type.Optional(Type.String({ maxLength: 1024 })),
    error_description: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: true },
);

/** OIDC sign-in: the start (off to the provider) and the callback (back with a code). */
export const registerOidcRoutes: FastifyPluginAsyncTypebox<OidcRouteOptions> = async (app, options) => {
  const { oidc, auth } = options;
  const { page } = createPageRendering(auth);
  const limited = signInPage(options.signInAttemptsPerMinute);

  const configured = (): OidcSignIn => {
    if (!oidc)
      throw new NotFound('Sign-in with an organization account is not set up on this server; sign in with your photosync password.');
    return oidc;
  };

  const failurePage = (reply: FastifyReply, error: OidcSignInFailed, next: string | undefined) => {
    reply.code(httpStatusOf(error));
    const retry = `/signin/oidc${next && safeNext(next) !== '/' ? `?next=${encodeURIComponent(safeNext(next))}` : ''}`;
    return page(
      reply,
      undefined,
      'Sign-in did not work',
      html`<section class="card error-page">
          <h1>Sign-in did not work</h1>
          <p role="alert">${error.message}</p>
          <p><a class="button" href="${retry}">Try again</a></p>
          <p><a href="/signin">Back to the sign-in page</a></p>
        </section>`,
    );
  };

  app.get('/signin/oidc', { config: limited, schema: { hide: true, querystring: StartQuery } }, async (request, reply) => {
    const signIn = configured();
    // An invalid credential counts as none here: signing in again is the way out of it.
    const actor = await auth.findActor(request).catch(() => undefined);
    if (actor?.kind === 'person') return reply.redirect(safeNext(request.query.next), 303);
    try {
      const next = safeNext(request.query.next);
      const { authorizationUrl, state } = await signIn.start(next === '/' ? undefined : next);
      reply.setCookie(STATE_COOKIE, state, {
        path: STATE_COOKIE_PATH,
        httpOnly: true,
        sameSite: 'lax',
        secure: options.secureCookies,
        maxAge: 600,
      });
      return reply.redirect(authorizationUrl.href, 303);
    } catch (error) {
      if (error instanceof OidcSignInFailed) return failurePage(reply, error, request.query.next);
      throw error;
    }
  });

  app.get('/signin/oidc/callback', { config: limited, schema: { hide: true, querystring: CallbackQuery } }, async (request, reply) => {
    const signIn = configured();
    const browserState = request.cookies[STATE_COOKIE];
    reply.clearCookie(STATE_COOKIE, { path: STATE_COOKIE_PATH });
    try {
      const signedIn = await signIn.finish(callbackUrl(request, signIn), browserState, request.ip);
      // A new session id at every sign-in; any session the browser had is ended.
      await auth.endSession(request, reply);
      auth.startSession(reply, signedIn.sessionToken);
      if (signedIn.idToken) {
        reply.setCookie(ID_TOKEN_COOKIE, signedIn.idToken, {
          path: ID_TOKEN_COOKIE_PATH,
          httpOnly: true,
          sameSite: 'lax',
          secure: options.secureCookies,
        });
      }
      return reply.redirect(safeNext(signedIn.returnTo), 303);
    } catch (error) {
      if (error instanceof OidcSignInFailed) return failurePage(reply, error, undefined);
      throw error;
    }
  });
};

/** The provider's sign-out page for the browser's OIDC sign-in, if it has one (for POST /signout). */
export async function oidcSignOutRedirect(
  oidc: OidcSignIn | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<string | undefined> {
  const idToken = request.cookies[ID_TOKEN_COOKIE];
  if (!oidc || !idToken) return undefined;
  reply.clearCookie(ID_TOKEN_COOKIE, { path: ID_TOKEN_COOKIE_PATH });
  return (await oidc.endSessionUrl(idToken))?.href;
}

/** The callback as the provider called it: the registered redirect URI with this request's query. */
function callbackUrl(request: FastifyRequest, oidc: OidcSignIn): URL {
  const url = new URL(oidc.redirectUri);
  const query = request.url.indexOf('?');
  url.search = query < 0 ? '' : request.url.slice(query);
  return url;
}
