import type { FastifyReply, FastifyRequest } from 'fastify';
import { Unauthenticated } from '../errors.ts';
import type { Actor } from './actor.ts';
import type { IdentityService } from './identity-service.ts';

export const SESSION_COOKIE = 'photosync_session';

export interface RequestAuthentication {
  /** The bearer token's or session's actor; undefined when the request carries neither. */
  findActor(request: FastifyRequest): Promise<Actor | undefined>;
  requireActor(request: FastifyRequest): Promise<Actor>;
  startSession(reply: FastifyReply, sessionToken: string): void;
  endSession(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  sessionToken(request: FastifyRequest): string | undefined;
}

/**
 * Resolves who is asking, once per request and only when a route asks: `Authorization: Bearer`
 * wins; otherwise the session cookie. A bad bearer token is an error, never a silent fall-back.
 */
export function createRequestAuthentication(identity: IdentityService, options: { secureCookies: boolean; sessionTtlHours: number }): RequestAuthentication {
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

  const findActor = (request: FastifyRequest) => {
    let actor = resolved.get(request);
    if (!actor) {
      actor = resolve(request);
      resolved.set(request, actor);
    }
    return actor;
  };

  return {
    findActor,
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
        maxAge: options.sessionTtlHours * 3600,
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
