import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { DirectoryService, Person } from '../directory/index.ts';
import { BadRequest, Forbidden, NotFound, shown } from '../errors.ts';
import type { Actor, RequestAuthentication } from '../identity/index.ts';
import type { SiteThumbnailSize } from '../imaging/index.ts';
import type { MailPhotoService } from '../mail/index.ts';
import { ifNoneMatchHits, PHOTO_CACHE_CONTROL } from '../web/conditional-get.ts';
import { readCappedBody } from '../web/raw-body.ts';
import { accountNameOf, claimsAccountName, PROFILE_PICTURES_PATH, thumbnailSizeOf, type ProfileProperty, type ThumbnailImage } from './site-profile.ts';
import type { SitesService } from './sites-service.ts';

export interface SharePointRouteOptions {
  sites: SitesService;
  mail: MailPhotoService;
  directory: DirectoryService;
  auth: RequestAuthentication;
  publicUrl: URL;
  /** Runs before a Sites photo is served: where the user-initiated sync hooks in. */
  onPhotoRequested(viewer: Actor | undefined, target: Person, size: SiteThumbnailSize): Promise<void>;
  /** Runs after SetMyProfilePicture stored the photo in Mail. */
  onProfilePictureSet(person: Person): Promise<void>;
}

/** SharePoint accepts up to 5,000,000 bytes for SetMyProfilePicture. */
const PROFILE_PICTURE_MAX_BYTES = 5_000_000;

/**
 * The SharePoint-style Sites endpoints: userphoto.aspx, the profile picture files, and the
 * PeopleManager REST calls that PnPjs `@pnp/sp/profiles` makes.
 */
export async function registerSharePointRoutes(app: FastifyInstance, options: SharePointRouteOptions): Promise<void> {
  const { sites, mail, directory, auth, publicUrl } = options;

  // PnPjs posts the picture labelled application/json, so bodies here are raw and judged by bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    readCappedBody(payload, PROFILE_PICTURE_MAX_BYTES, '5,000,000 bytes').then((body) => done(null, body), (error: Error) => done(error));
  });

  // As in SharePoint Online, people's photos are for signed-in people (a session or a token); this
  // also keeps anonymous visitors from learning who exists by trying account names.
  const servePhoto = async (request: FastifyRequest, reply: FastifyReply, viewer: Actor, person: Person, size: SiteThumbnailSize) => {
    await options.onPhotoRequested(viewer, person, size);
    return sendThumbnail(request, reply, await sites.getThumbnail(person, size));
  };

  app.get<{ Querystring: { size?: string; accountname?: string } }>(
    '/_layouts/15/userphoto.aspx',
    {
      schema: {
        tags: ['SharePoint'],
        summary: 'A person\'s Sites photo (or placeholder) in size S, M or L',
        querystring: Type.Object({
          size: Type.Optional(Type.String({ maxLength: 8 })),
          accountname: Type.String({ minLength: 1, maxLength: 400, description: 'UPN, mail address or claims name' }),
        }),
      },
    },
    async (request, reply) => {
      const viewer = await auth.requireActor(request);
      const size = parseThumbnailSize(request.query.size ?? 'M');
      const name = accountNameOf(request.query.accountname!);
      const person = await directory.findByUpnOrMail(name);
      if (!person) throw new NotFound(`There is no person with the account name ${shown(name)}.`);
      return servePhoto(request, reply, viewer, person, size);
    },
  );

  app.get<{ Params: { file: string } }>(
    `${PROFILE_PICTURES_PATH}/:file`,
    { schema: { tags: ['SharePoint'], summary: 'A profile picture file, e.g. ada_contoso_com_MThumb.jpg' } },
    async (request, reply) => {
      const viewer = await auth.requireActor(request);
      const found = await sites.findByThumbnailFile(request.params.file);
      if (!found) throw new NotFound(`There is no profile picture named ${shown(request.params.file)}.`);
      return servePhoto(request, reply, viewer, found.person, found.size);
    },
  );

  // PnPjs lower-cases these paths, and SharePoint matches them case-insensitively; so does this route.
  app.route<{ Querystring: Record<string, string> }>({
    method: ['GET', 'POST'],
    url: '/_api/*',
    schema: { tags: ['SharePoint'], summary: 'SP.UserProfiles.PeopleManager: GetMyProperties, GetPropertiesFor, SetMyProfilePicture' },
    // A POST's refusals (401, 403, 404, 503) need only its headers: they are answered before its body is read.
    onRequest: async (request) => {
      if (request.method !== 'POST') return;
      const actor = await signedInPerson(request);
      if (peopleManagerCall(request) !== 'setmyprofilepicture') throw noSuchApi(request);
      assertProfilePictureAccepted(request, actor);
    },
    handler: async (request, reply) => {
      const call = peopleManagerCall(request);
      const actor = await signedInPerson(request);
      const reading = request.method === 'GET' || request.method === 'HEAD';

      if (call === 'getmyproperties' && reading) {
        return sendPersonProperties(request, reply, actor.person);
      }
      if (call === 'getpropertiesfor' && reading) {
        const target = await directory.findByUpnOrMail(accountNameArgument(request.url, request.query));
        if (!target) throw new NotFound('There is no person with that account name.');
        return sendPersonProperties(request, reply, target);
      }
      if (call === 'setmyprofilepicture' && request.method === 'POST') {
        assertProfilePictureAccepted(request, actor);
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        // A BMP becomes a PNG of up to 4× its size; the body itself was capped at 5,000,000 bytes.
        await mail.setPhoto(actor, actor.person, body, 'sites', { maxBytes: 4 * PROFILE_PICTURE_MAX_BYTES, acceptBmp: true });
        await options.onProfilePictureSet(actor.person);
        return sendODataJson(request, reply, { 'odata.null': true });
      }
      throw noSuchApi(request);
    },
  });

  const signedInPerson = async (request: FastifyRequest) => {
    const actor = await auth.requireActor(request);
    if (actor.kind !== 'person') throw new BadRequest('A person must be signed in.');
    return actor;
  };

  const assertProfilePictureAccepted = (request: FastifyRequest, actor: Extract<Actor, { kind: 'person' }>) => {
    // A browser's cookie goes along with any cross-site POST; a custom header does not (it needs
    // a CORS preflight this server never grants). SharePoint's clients send X-RequestDigest.
    if (actor.via === 'session' && !request.headers['x-requestdigest']) {
      throw new Forbidden('A signed-in browser must send the X-RequestDigest header with this request, as SharePoint requires.');
    }
    mail.assertUploadAccepted(actor, actor.person);
  };

  const sendPersonProperties = async (request: FastifyRequest, reply: FastifyReply, person: Person) => {
    const properties = await sites.getProperties(person);
    const pictureUrl = properties.find((p) => p.key === 'PictureURL')?.value || null;
    // SharePoint's PersonalUrl is the person's own site; here that is their profile page (there is no /personal/).
    const profilePage = new URL(`/sites/people/${encodeURIComponent(person.userPrincipalName)}`, publicUrl).href;
    const body = {
      AccountName: claimsAccountName(person),
      DisplayName: person.displayName,
      Email: person.mail,
      PersonalUrl: profilePage,
      PictureUrl: pictureUrl,
      Title: null,
      UserUrl: profilePage,
      UserProfileProperties: properties,
    };
    return sendODataJson(request, reply, body);
  };
}

/** The PeopleManager method a path names, lower case (PnPjs lower-cases paths; SharePoint matches any case). */
function peopleManagerCall(request: FastifyRequest): string | undefined {
  const path = decodeURIComponent(request.url.split('?')[0]!).toLowerCase();
  return /^\/_api\/sp\.userprofiles\.peoplemanager\/([a-z]+)(\(.*\))?$/.exec(path)?.[1];
}

function noSuchApi(request: FastifyRequest): NotFound {
  return new NotFound(`There is no SharePoint API at ${request.method} ${request.url.split('?')[0]}.`);
}

/** SharePoint answers `odata=verbose` with the `d` wrapper and `results` arrays; anything else plainly. */
function sendODataJson(request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown>): FastifyReply {
  const verbose = /odata=verbose/i.test(request.headers.accept ?? '');
  const { UserProfileProperties: properties, ...rest } = body as { UserProfileProperties?: ProfileProperty[] };
  if (!verbose) {
    return reply
      .type('application/json;odata=nometadata;charset=utf-8')
      .send({ ...rest, ...(properties && { UserProfileProperties: properties.map((p) => keyValue(p, false)) }) });
  }
  const wrapped = {
    d: {
      __metadata: { type: properties ? 'SP.UserProfiles.PersonProperties' : 'SP.Null' },
      ...rest,
      ...(properties && {
        UserProfileProperties: { __metadata: { type: 'Collection(SP.KeyValue)' }, results: properties.map((p) => keyValue(p, true)) },
      }),
    },
  };
  return reply.type('application/json;odata=verbose;charset=utf-8').send(wrapped);
}

/** A property as SharePoint's SP.KeyValue. */
function keyValue(property: ProfileProperty, verbose: boolean) {
  return { ...(verbose && { __metadata: { type: 'SP.KeyValue' } }), Key: property.key, Value: property.value, ValueType: 'Edm.String' };
}

/**
 * `GetPropertiesFor(accountName=@v)?@v='i:0#.f|membership|ada@…'` (and PnPjs's `GetPropertiesFor(@v)`),
 * or the account name given inline: `GetPropertiesFor(accountName='…')`.
 */
function accountNameArgument(url: string, query: Record<string, string | string[]>): string {
  const path = decodeURIComponent(url.split('?')[0]!);
  const inline = /\((?:accountName=)?'([^']{1,400})'\)$/i.exec(path)?.[1];
  const alias = /\((?:accountName=)?(@[a-z0-9]{1,20})\)$/i.exec(path)?.[1];
  const raw = inline ?? (alias ? query[alias] : undefined);
  if (Array.isArray(raw)) throw new BadRequest(`Give ${alias} once.`);
  if (!raw) throw new BadRequest('Name the person: GetPropertiesFor(accountName=@v)?@v=\'i:0#.f|membership|<upn>\'.');
  const value = raw.trim().replace(/^'(.*)'$/s, '$1').replace(/''/g, "'");
  if (value.length === 0 || value.length > 400) throw new BadRequest('The account name must be 1 to 400 characters.');
  return accountNameOf(value);
}

function parseThumbnailSize(raw: string): SiteThumbnailSize {
  const size = thumbnailSizeOf(raw);
  if (!size) throw new BadRequest(`"${raw.slice(0, 8)}" is not a photo size; use S, M or L.`);
  return size;
}

function sendThumbnail(request: FastifyRequest, reply: FastifyReply, image: ThumbnailImage): FastifyReply {
  reply.header('etag', image.etag).header('cache-control', PHOTO_CACHE_CONTROL);
  if (ifNoneMatchHits(request.headers['if-none-match'], image.etag)) return reply.code(304).send();
  return reply.type('image/jpeg').send(image.bytes);
}

