import type { FastifyReply, FastifyRequest } from 'fastify';
import { PasswordChangeRequired, TooManyAttempts } from '../errors.ts';
import { csrfBinding, isAdmin, type PersonActor, type RequestAuthentication } from '../identity/index.ts';
import type { SafeHtml } from './html.ts';
import { renderPage } from './layout.ts';

export type { PersonActor };

/** Marks a route as a portal page: its errors render as HTML. */
export const PAGE = { page: true } as const;

/** A sign-in page's route config: a page, with at most `attemptsPerMinute` tries per client address. */
export function signInPage(attemptsPerMinute: number) {
  return {
    ...PAGE,
    rateLimit: {
      max: attemptsPerMinute,
      timeWindow: 60_000,
      errorResponseBuilder: (_request: FastifyRequest, context: { ttl: number }) =>
        new TooManyAttempts('Too many sign-in attempts. Wait a minute, then try again.', Math.ceil(context.ttl / 1000)),
    },
  };
}

const csrfTokens = new WeakMap<FastifyReply, string>();

/**
 * One CSRF token per response: each generateCsrf() call on a request without the secret cookie
 * mints a new secret, and a page with two forms would otherwise set two cookies that disagree.
 */
export function csrfToken(reply: FastifyReply): string {
  let token = csrfTokens.get(reply);
  if (!token) {
    // Bound to the browser's session: a token minted for any other session (or none) is refused.
    token = reply.generateCsrf({ userInfo: csrfBinding(reply.request) });
    csrfTokens.set(reply, token);
  }
  return token;
}

/** Who the page's header shows (name, photo, the admin's places), where they are, and the sign-out form's token. */
export function pageViewer(reply: FastifyReply, actor: PersonActor | undefined) {
  return { person: actor?.person, admin: actor ? isAdmin(actor) : false, path: reply.request.url, csrfToken: csrfToken(reply) };
}

type SignedIn = (request: FastifyRequest, reply: FastifyReply) => Promise<PersonActor | undefined>;

/**
 * An onRequest hook for a form or upload: who may send it is settled before a byte of its body is
 * read. A visitor who is not signed in is sent to sign in (`signedIn`), and `check` — the service's
 * own rule — refuses whoever may not do this (403, 404). The handler asks again; the actor is
 * resolved once per request.
 */
export function refuseBeforeBody(signedIn: SignedIn, check?: (actor: PersonActor, request: FastifyRequest) => unknown) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    await check?.(actor, request);
    return undefined;
  };
}

/** What every portal page needs: who is signed in (or a redirect to sign in) and the page frame. */
export function createPageRendering(auth: RequestAuthentication) {
  return {
    /** `changingPassword`: the password page itself, the one page a one-time password opens. */
    async signedIn(
      request: FastifyRequest,
      reply: FastifyReply,
      options: { changingPassword?: boolean } = {},
    ): Promise<PersonActor | undefined> {
      const find = options.changingPassword ? auth.findActorChangingPassword : auth.findActor;
      const actor = await find(request).catch((error: unknown) => (error instanceof PasswordChangeRequired ? error : undefined));
      if (actor instanceof PasswordChangeRequired) {
        await reply.redirect('/account/password', 303);
        return undefined;
      }
      if (actor?.kind === 'person') return actor;
      await reply.redirect(`/signin?next=${encodeURIComponent(request.url)}`, 303);
      return undefined;
    },
    page(
      reply: FastifyReply,
      actor: PersonActor | undefined,
      title: string,
      body: SafeHtml,
      scripts?: string[],
      styles?: string[],
    ): FastifyReply {
      return reply
        .type('text/html; charset=utf-8')
        .send(renderPage({ title, ...pageViewer(reply, actor), ...(scripts && { scripts }), ...(styles && { styles }) }, body));
    },
  };
}
