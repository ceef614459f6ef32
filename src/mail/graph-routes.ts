import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { DirectoryService, Person } from '../directory/index.ts';
import { InvalidInput } from '../errors.ts';
import type { Actor, RequestAuthentication } from '../identity/index.ts';
import { GRAPH_PHOTO_SIZES, graphPhotoSizeOf, MAIL_PHOTO_MAX_BYTES, type GraphPhotoSize } from '../imaging/index.ts';
import { ifNoneMatchHits, PHOTO_CACHE_CONTROL, photoFreshness, readCappedBody } from '../http/index.ts';
import { assertCanEditPhoto, type MailPhotoService } from './mail-photo-service.ts';
import { quoteEtag, type PhotoVersion, type StoredRendition } from './photo-version.ts';

export interface GraphRouteOptions {
  mail: MailPhotoService;
  directory: DirectoryService;
  auth: RequestAuthentication;
  publicUrl: URL;
}

const GraphError = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }) },
  { description: 'Microsoft Graph error body' },
);
const PhotoMetadata = Type.Object(
  {
    '@odata.context': Type.Optional(Type.String()),
    '@odata.mediaContentType': Type.String(),
    '@odata.mediaEtag': Type.String(),
    id: Type.String(),
    width: Type.Integer(),
    height: Type.Integer(),
  },
  { description: 'profilePhoto metadata, as Microsoft Graph returns it' },
);
const PhotoCollection = Type.Object(
  { '@odata.context': Type.String(), value: Type.Array(PhotoMetadata) },
  { description: "Every stored size's metadata" },
);
const Bytes = Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'JPEG bytes' });
const Upload = Type.Unsafe<Buffer | undefined>({
  format: 'binary',
  description: 'The image: JPEG or PNG, at most 4 MB, whatever the Content-Type says',
});
/** A reply without a body (204, 304, a stored upload). */
const NoBody = Type.Unsafe<void>({ description: 'No body' });
const errors = { 400: GraphError, 401: GraphError, 403: GraphError, 404: GraphError, 413: GraphError, 415: GraphError };
const SIZE_NAMES = GRAPH_PHOTO_SIZES.map((size) => `${size}x${size}`);
const User = Type.String({ description: "The person's id or userPrincipalName", maxLength: 256 });
const Size = Type.String({
  // Graph's size names in any case (its ids are `48X48`).
  pattern: `^(?:${GRAPH_PHOTO_SIZES.map((size) => `${size}[xX]${size}`).join('|')})$`,
  errorMessage: `That is not a photo size; use one of ${SIZE_NAMES.join(', ')}.`,
  description: `One of ${SIZE_NAMES.join(', ')}`,
});
const PhotoQuery = Type.Object({
  v: Type.Optional(Type.String({ maxLength: 200, description: 'The version the URL shows (its ETag): browsers keep such a URL for good' })),
});

/**
 * Microsoft Graph's profilePhoto API, so Graph SDKs and scripts work unmodified with a custom base
 * URL. Each route is registered for `me` and for `users/{id | userPrincipalName}`.
 */
export const registerGraphPhotoRoutes: FastifyPluginAsyncTypebox<GraphRouteOptions> = async (app, options) => {
  const { mail, directory, auth, publicUrl } = options;

  // Graph clients send photo bytes under any Content-Type (the JS SDK says application/json), so
  // this scope takes every body raw and judges it by its bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    readCappedBody(payload, MAIL_PHOTO_MAX_BYTES, '4 MB').then(
      (body) => done(null, body),
      (error: Error) => done(error),
    );
  });

  /** Who asks, and whose photo: `user` from the path, or the asker themself for `me`. */
  const resolve = async (request: FastifyRequest, user: string | undefined): Promise<{ actor: Actor; target: Person }> => {
    const actor = await auth.requireActor(request);
    if (user === undefined) {
      if (actor.kind !== 'person') throw new InvalidInput('"me" needs a signed-in person or a person\'s token.');
      return { actor, target: actor.person };
    }
    return { actor, target: await directory.getPerson(user) };
  };

  const context = (target: Person, path: string) => `${new URL('/v1.0/', publicUrl).href}$metadata#users('${target.id}')/${path}`;

  // `me` and `users/{user}` take the same routes; the path parameter is the only difference.
  const bases = [
    { base: '/v1.0/me', tags: ['Graph profilePhoto'], params: Type.Object({}), sizeParams: Type.Object({ size: Size }) },
    {
      base: '/v1.0/users/:user',
      tags: ['Graph profilePhoto'],
      params: Type.Object({ user: User }),
      sizeParams: Type.Object({ user: User, size: Size }),
    },
  ];
  for (const { base, tags, params, sizeParams } of bases) {
    app.get(
      `${base}/photo`,
      { schema: { tags, summary: 'Metadata of the largest photo', params, response: { 200: PhotoMetadata, ...errors } } },
      async (request) => {
        const { actor, target } = await resolve(request, namedUser(request.params));
        const version = await mail.getPhoto(actor, target);
        return { '@odata.context': context(target, 'photo/$entity'), ...photoMetadata(version, version.sizes[0]!) };
      },
    );

    app.get(
      `${base}/photo/$value`,
      {
        schema: {
          tags,
          summary: 'Bytes of the largest photo',
          params,
          querystring: PhotoQuery,
          response: { 200: Bytes, 304: NoBody, ...errors },
        },
      },
      async (request, reply) => {
        const { actor, target } = await resolve(request, namedUser(request.params));
        return sendRendition(request, reply, await mail.getRendition(actor, target), request.query.v);
      },
    );

    app.get(
      `${base}/photos`,
      { schema: { tags, summary: 'Metadata of every stored size', params, response: { 200: PhotoCollection, ...errors } } },
      async (request) => {
        const { actor, target } = await resolve(request, namedUser(request.params));
        const version = await mail.getPhoto(actor, target);
        return { '@odata.context': context(target, 'photos'), value: version.sizes.map((size) => photoMetadata(version, size)) };
      },
    );

    app.get(
      `${base}/photos/:size`,
      { schema: { tags, summary: 'Metadata of one size', params: sizeParams, response: { 200: PhotoMetadata, ...errors } } },
      async (request) => {
        const { actor, target } = await resolve(request, namedUser(request.params));
        const rendition = await mail.getRendition(actor, target, sizeNamed(request.params.size));
        const version = await mail.getPhoto(actor, target);
        return {
          '@odata.context': context(target, `photos('${rendition.size}X${rendition.size}')/$entity`),
          ...photoMetadata(version, rendition.size),
        };
      },
    );

    app.get(
      `${base}/photos/:size/$value`,
      {
        schema: {
          tags,
          summary: 'Bytes of one size',
          params: sizeParams,
          querystring: PhotoQuery,
          response: { 200: Bytes, 304: NoBody, ...errors },
        },
      },
      async (request, reply) => {
        const { actor, target } = await resolve(request, namedUser(request.params));
        return sendRendition(request, reply, await mail.getRendition(actor, target, sizeNamed(request.params.size)), request.query.v);
      },
    );

    const uploadSchema = {
      tags,
      summary: 'Set or replace the photo (raw image/jpeg or image/png body, at most 4 MB)',
      params,
      consumes: ['image/jpeg', 'image/png'],
      body: Upload,
      response: { 200: NoBody, ...errors, 503: GraphError },
    };
    for (const method of ['PUT', 'PATCH'] as const) {
      app.route({
        method,
        url: `${base}/photo/$value`,
        schema: uploadSchema,
        // Refusals that need no body (401, 403, 404, 503) are answered before the body is read.
        onRequest: async (request) => {
          const { actor, target } = await resolve(request, namedUser(request.params));
          mail.assertUploadAccepted(actor, target);
        },
        handler: async (request, reply) => {
          const { actor, target } = await resolve(request, namedUser(request.params));
          await mail.setPhoto(actor, target, request.body ?? Buffer.alloc(0), 'api');
          return reply.code(200).send();
        },
      });
    }

    app.delete(
      `${base}/photo`,
      {
        schema: { tags, summary: 'Remove the photo', params, response: { 204: NoBody, ...errors } },
        // A DELETE needs no body; whoever sends one anyway is refused (401, 403, 404) before it is read.
        onRequest: async (request) => {
          const { actor, target } = await resolve(request, namedUser(request.params));
          assertCanEditPhoto(actor, target);
        },
      },
      async (request, reply) => {
        const { actor, target } = await resolve(request, namedUser(request.params));
        await mail.removePhoto(actor, target);
        return reply.code(204).send();
      },
    );
  }
};

/** The person `users/{user}` names (its schema made it a string); `me` names nobody. */
function namedUser(params: object): string | undefined {
  return 'user' in params ? String(params.user) : undefined;
}

function photoMetadata(version: PhotoVersion, size: GraphPhotoSize) {
  return {
    '@odata.mediaContentType': 'image/jpeg',
    '@odata.mediaEtag': quoteEtag(version.etag),
    id: `${size}X${size}`,
    width: size,
    height: size,
  };
}

/** A size name the route's schema accepted (`48x48`, `48X48`) as the size. */
function sizeNamed(name: string): GraphPhotoSize {
  return graphPhotoSizeOf(name) ?? GRAPH_PHOTO_SIZES[0];
}

function sendRendition(
  request: FastifyRequest,
  reply: FastifyReply,
  rendition: StoredRendition,
  version: string | undefined,
): FastifyReply {
  const etag = quoteEtag(rendition.etag);
  const freshness = photoFreshness(version, rendition.versionEtag);
  reply.header('etag', etag).header('cache-control', PHOTO_CACHE_CONTROL[freshness]);
  if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(rendition.contentType).send(rendition.bytes);
}
