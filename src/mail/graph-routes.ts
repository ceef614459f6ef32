import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { DirectoryService, Person } from '../directory/index.ts';
import { BadRequest } from '../errors.ts';
import type { Actor, RequestAuthentication } from '../identity/index.ts';
import { GRAPH_PHOTO_SIZES, graphPhotoSizeOf, MAIL_PHOTO_MAX_BYTES, type GraphPhotoSize } from '../imaging/index.ts';
import { ifNoneMatchHits, PHOTO_CACHE_CONTROL } from '../web/conditional-get.ts';
import { readCappedBody } from '../web/raw-body.ts';
import { assertCanEditPhoto, type MailPhotoService } from './mail-photo-service.ts';
import { quoteEtag, type PhotoVersion, type StoredRendition } from './photo-version.ts';

export interface GraphRouteOptions {
  mail: MailPhotoService;
  directory: DirectoryService;
  auth: RequestAuthentication;
  publicUrl: URL;
}

type Params = { user?: string; size?: string };

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
const Bytes = Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'JPEG bytes' });
const errors = { 400: GraphError, 401: GraphError, 403: GraphError, 404: GraphError, 413: GraphError, 415: GraphError };

/**
 * Microsoft Graph's profilePhoto API, so Graph SDKs and scripts work unmodified with a custom base
 * URL. Each route is registered for `me` and for `users/{id | userPrincipalName}`.
 */
export async function registerGraphPhotoRoutes(app: FastifyInstance, options: GraphRouteOptions): Promise<void> {
  const { mail, directory, auth, publicUrl } = options;

  // Graph clients send photo bytes under any Content-Type (the JS SDK says application/json), so
  // this scope takes every body raw and judges it by its bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    readCappedBody(payload, MAIL_PHOTO_MAX_BYTES, '4 MB').then((body) => done(null, body), (error: Error) => done(error));
  });

  const resolve = async (request: FastifyRequest<{ Params: Params }>): Promise<{ actor: Actor; target: Person }> => {
    const actor = await auth.requireActor(request);
    const { user } = request.params;
    if (user === undefined) {
      if (actor.kind !== 'person') throw new BadRequest('"me" needs a signed-in person or a person\'s token.');
      return { actor, target: actor.person };
    }
    return { actor, target: await directory.getPerson(user) };
  };

  const context = (target: Person, path: string) => `${new URL('/v1.0/', publicUrl).href}$metadata#users('${target.id}')/${path}`;

  for (const [base, tag] of [['/v1.0/me', 'me'], ['/v1.0/users/:user', 'users']] as const) {
    const params = tag === 'me' ? undefined : Type.Object({ user: Type.String({ description: 'The person\'s id or userPrincipalName', maxLength: 256 }) });
    const sizeParams = Type.Object({
      ...(tag === 'users' && { user: Type.String({ maxLength: 256 }) }),
      size: Type.String({ description: 'One of 48x48, 64x64, 96x96, 120x120, 240x240, 360x360, 432x432, 504x504, 648x648', maxLength: 32 }),
    });
    const schema = (summary: string, extra: object = {}) => ({ tags: ['Graph profilePhoto'], summary, ...(params && { params }), ...extra });

    app.get<{ Params: Params }>(`${base}/photo`, { schema: schema('Metadata of the largest photo', { response: { 200: PhotoMetadata, ...errors } }) }, async (request) => {
      const { actor, target } = await resolve(request);
      const version = await mail.getPhoto(actor, target);
      return { '@odata.context': context(target, 'photo/$entity'), ...photoMetadata(version, version.sizes[0]!) };
    });

    app.get<{ Params: Params }>(`${base}/photo/$value`, { schema: schema('Bytes of the largest photo', { response: { 200: Bytes, 304: Type.Null(), ...errors } }) }, async (request, reply) => {
      const { actor, target } = await resolve(request);
      return sendRendition(request, reply, await mail.getRendition(actor, target));
    });

    app.get<{ Params: Params }>(`${base}/photos`, { schema: schema('Metadata of every stored size') }, async (request) => {
      const { actor, target } = await resolve(request);
      const version = await mail.getPhoto(actor, target);
      return { '@odata.context': context(target, 'photos'), value: version.sizes.map((size) => photoMetadata(version, size)) };
    });

    app.get<{ Params: Params }>(`${base}/photos/:size`, { schema: { ...schema('Metadata of one size'), params: sizeParams, response: { 200: PhotoMetadata, ...errors } } }, async (request) => {
      const size = parseSize(request.params.size!);
      const { actor, target } = await resolve(request);
      const rendition = await mail.getRendition(actor, target, size);
      const version = await mail.getPhoto(actor, target);
      return { '@odata.context': context(target, `photos('${rendition.size}X${rendition.size}')/$entity`), ...photoMetadata(version, rendition.size) };
    });

    app.get<{ Params: Params }>(`${base}/photos/:size/$value`, { schema: { ...schema('Bytes of one size'), params: sizeParams } }, async (request, reply) => {
      const size = parseSize(request.params.size!);
      const { actor, target } = await resolve(request);
      return sendRendition(request, reply, await mail.getRendition(actor, target, size));
    });

    const upload = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const { actor, target } = await resolve(request);
      const body = request.body;
      await mail.setPhoto(actor, target, Buffer.isBuffer(body) ? body : Buffer.alloc(0), 'api');
      return reply.code(200).send();
    };
    const uploadSchema = schema('Set or replace the photo (raw image/jpeg or image/png body, at most 4 MB)', { response: { 200: Type.Null(), ...errors, 503: GraphError } });
    // Refusals that need no body (401, 403, 404, 503) are answered before the body is read.
    const beforeBody = async (request: FastifyRequest<{ Params: Params }>) => {
      const { actor, target } = await resolve(request);
      mail.assertUploadAccepted(actor, target);
    };
    app.put<{ Params: Params }>(`${base}/photo/$value`, { schema: uploadSchema, onRequest: beforeBody }, upload);
    app.patch<{ Params: Params }>(`${base}/photo/$value`, { schema: uploadSchema, onRequest: beforeBody }, upload);

    // A DELETE needs no body; whoever sends one anyway is refused (401, 403, 404) before it is read.
    const beforeRemoval = async (request: FastifyRequest<{ Params: Params }>) => {
      const { actor, target } = await resolve(request);
      assertCanEditPhoto(actor, target);
    };
    app.delete<{ Params: Params }>(`${base}/photo`, { schema: schema('Remove the photo', { response: { 204: Type.Null(), ...errors } }), onRequest: beforeRemoval }, async (request, reply) => {
      const { actor, target } = await resolve(request);
      await mail.removePhoto(actor, target);
      return reply.code(204).send();
    });
  }
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

function parseSize(raw: string): GraphPhotoSize {
  const size = graphPhotoSizeOf(raw);
  if (!size) throw new BadRequest(`"${raw.slice(0, 32)}" is not a photo size; use one of ${GRAPH_PHOTO_SIZES.map((s) => `${s}x${s}`).join(', ')}.`);
  return size;
}

function sendRendition(request: FastifyRequest, reply: FastifyReply, rendition: StoredRendition): FastifyReply {
  const etag = quoteEtag(rendition.etag);
  reply.header('etag', etag).header('cache-control', PHOTO_CACHE_CONTROL);
  if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(rendition.contentType).send(rendition.bytes);
}
