import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PasswordChangeRequired, Unauthenticated } from '../errors.ts';
import type { Actor } from '../actor.ts';
import type { IdentityService } from './identity-service.ts';

export const SESSION_COOKIE = 'photosync_session';

export interface RequestAuthentication {
  /**
   * The bearer token's or session's actor; undefined when the request carries neither. A session
   * signed in with a one-time password is refused (PasswordChangeRequired) on every route that asks.
   */
  findActor(request: FastifyRequest): Promise<Actor | undefined>;
  requireActor(request: FastifyRequest): Promise<Actor>;
  /** As findActor, but lets a one-time-password session through: for the page that replaces that password. */
  findActorChangingPassword(request: FastifyRequest): Promise<Actor | undefined>;
  startSession(reply: FastifyReply, sessionToken: string): void;
  endSession(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  sessionToken(request: FastifyRequest): string | undefined;
}

/**
 * Resolves who is asking, once per request and only when a route asks: `Authorization: Bearer`
 * wins; otherwise the session cookie. A bad bearer token is an error, never a silent fall-back.
 */
export function createRequestAuthentication(
  identity: IdentityService,
  options: { secureCookies: boolean; sessionLifetimeHours: number },
): RequestAuthentication {
  const resolved = new WeakMap<FastifyRequest, Promise<Actor | undefined>>();

  const resolve = async (request: FastifyRequest): Promise<Actor | undefined> => {
    const authorization = request.headers.authorization;
    let actor: Actor | undefined;
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw new Unauthenticated('The Authorization header must be "Bearer <token>".');
      actor = await identity.authenticateBearer(match[1]!);
    } else {
      const session = request.cookies[SESSION_COOKIE];
      actor = session ? await identity.resolveSession(session) : undefined;
    }
    // Actors are cached across requests; the address belongs to this request only.
    return actor && { ...actor, ip: request.ip };
  };

  const findActorChangingPassword = (request: FastifyRequest) => {
    let actor = resolved.get(request);
    if (!actor) {
      actor = resolve(request);
      resolved.set(request, actor);
    }
    return actor;
  };

  const findActor = async (request: FastifyRequest) => {
    const actor = await findActorChangingPassword(request);
    if (actor && isConfinedToPasswordChange(actor)) throw new PasswordChangeRequired();
    return actor;
  };

  return {
    findActor,
    findActorChangingPassword,
    async requireActor(request) {
      const actor = await findActor(request);
      if (!actor) throw new Unauthenticated();
      return actor;
    },
    startSession(reply, sessionToken) {
      reply.setCookie(SESSION_COOKIE, sessionToken, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: options.secureCookies,
        // The browser may keep it as long as the session can live; the server ends it sooner when idle.
        maxAge: options.sessionLifetimeHours * 3600,
      });
    },
    async endSession(request, reply) {
      const session = request.cookies[SESSION_COOKIE];
      if (session) await identity.signOut(session);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
    },
    sessionToken(request) {
      return request.cookies[SESSION_COOKIE];
    },
  };
}

/**
 * A session signed in with a one-time password: it proves only that its holder may choose a
 * password (a token is a credential of its own, made on purpose, and is not confined).
 */
export function isConfinedToPasswordChange(actor: Actor): boolean {
  return actor.kind === 'person' && actor.via === 'session' && actor.person.mustChangePassword;
}

/**
 * What a CSRF token is bound to: the session cookie the browser sends (hashed apart from the
 * session's stored id hash), or "anonymous". A token made for one session is refused with any
 * other, so a token and `_csrf` cookie planted from another browser open nothing.
 */
export function csrfBinding(request: FastifyRequest): string {
  const session = request.cookies[SESSION_COOKIE];
  return session ? `session:${createHash('sha256').update(`csrf:${session}`).digest('base64url')}` : 'anonymous';
}
