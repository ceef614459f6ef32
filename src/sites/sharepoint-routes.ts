import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { Type } from 'typebox';
import type { DirectoryService, Person } from '../directory/index.ts';
import { InvalidInput, NotFound, shown } from '../errors.ts';
import type { Actor, RequestAuthentication } from '../identity/index.ts';
import type { SiteThumbnailSize } from '../imaging/index.ts';
import { ifNoneMatchHits, PHOTO_CACHE_CONTROL, photoFreshness, readCappedBody, type PhotoFreshness } from '../http/index.ts';
import {
  accountNameOf,
  claimsAccountName,
  PROFILE_PICTURES_PATH,
  thumbnailSizeOf,
  type ProfileProperty,
  type ThumbnailImage,
} from './site-profile.ts';
import { PROFILE_PICTURE_MAX_BYTES, type ProfilePictureRequest, type SitesService } from './sites-service.ts';

export interface SharePointRouteOptions {
  sites: SitesService;
  directory: DirectoryService;
  auth: RequestAuthentication;
  publicUrl: URL;
  /** Runs before a Sites photo is served: where the user-initiated sync hooks in. */
  onPhotoRequested(viewer: Actor | undefined, target: Person, size: SiteThumbnailSize): Promise<void>;
}

/** The PeopleManager's path as SharePoint documents it, and as routed (lower case: see lowerCaseApiPath). */
const PEOPLE_MANAGER_NAME = '/_api/SP.UserProfiles.PeopleManager';
const PEOPLE_MANAGER = PEOPLE_MANAGER_NAME.toLowerCase();
/** /docs lists a call as SharePoint spells it (the route itself is lower case); only the case may differ. */
function spelledAs(path: string) {
  return ({ schema, url }: { schema: FastifySchema; url: string }) => {
    if (path.toLowerCase() !== url) throw new Error(`${path} is not how ${url} is spelled`);
    return { schema, url: path };
  };
}
const NAME_THE_PERSON =
  "Name the person: GetPropertiesFor(accountName=@v)?@v='i:0#.f|membership|<upn>', or GetPropertiesFor(accountName='<upn>') with at most 400 characters.";

const GraphError = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }) },
  { description: 'Error body (`{"error":{"code","message"}}`), as everywhere in photosync' },
);
const errors = { 400: GraphError, 401: GraphError, 404: GraphError };
const NoBody = Type.Unsafe<void>({ description: 'Not modified: no body' });
const Jpeg = Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'JPEG bytes' });
const AcceptHeader = Type.Object({
  Accept: Type.Optional(
    Type.String({
      description:
        '`application/json;odata=verbose` wraps the answer in `d` with `results` arrays, as SharePoint does; anything else gives the plain shape PnPjs reads.',
      examples: ['application/json'],
    }),
  ),
});
const NullableText = Type.Union([Type.String(), Type.Null()]);
const PersonProperties = Type.Object(
  {
    AccountName: Type.String({ examples: ['i:0#.f|membership|ada@contoso.example'] }),
    DisplayName: Type.String(),
    Email: NullableText,
    PersonalUrl: Type.String({ description: "The person's profile page" }),
    PictureUrl: Type.Union([Type.String(), Type.Null()], { description: 'The M thumbnail; null while Sites shows the placeholder' }),
    Title: Type.Null(),
    UserUrl: Type.String(),
    UserProfileProperties: Type.Array(
      Type.Object({ Key: Type.String(), Value: Type.String(), ValueType: Type.String({ examples: ['Edm.String'] }) }),
      {
        description: 'PictureURL, PictureImportEnabled, SPS-PicturePlaceholderState, SPS-PictureTimestamp, SPS-PictureExchangeSyncState, …',
      },
    ),
  },
  { description: 'SP.UserProfiles.PersonProperties' },
);
/** `odata=verbose`: the same answer under `d`, with `__metadata` and `results` arrays. */
const VerboseReply = Type.Object(
  { d: Type.Object({}, { additionalProperties: true }) },
  { description: 'The answer as `odata=verbose` asks for it' },
);
const PersonPropertiesReply = Type.Union([PersonProperties, VerboseReply]);
const NullReply = Type.Union([Type.Object({ 'odata.null': Type.Literal(true) }, { description: 'Stored' }), VerboseReply]);

/**
 * The SharePoint-style Sites endpoints: userphoto.aspx, the profile picture files, and the
 * PeopleManager REST calls that PnPjs `@pnp/sp/profiles` makes.
 */
export const registerSharePointRoutes: FastifyPluginAsyncTypebox<SharePointRouteOptions> = async (app, options) => {
  const { sites, directory, auth, publicUrl } = options;

  // PnPjs posts the picture labelled application/json, so bodies here are raw and judged by bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    readCappedBody(payload, PROFILE_PICTURE_MAX_BYTES, '5,000,000 bytes').then(
      (body) => done(null, body),
      (error: Error) => done(error),
    );
  });

  // As in SharePoint Online, people's photos are for signed-in people (a session or a token); this
  // also keeps anonymous visitors from learning who exists by trying account names.
  const servePhoto = async (
    request: FastifyRequest,
    reply: FastifyReply,
    viewer: Actor,
    person: Person,
    size: SiteThumbnailSize,
    version: string | undefined,
  ) => {
    await options.onPhotoRequested(viewer, person, size);
    const image = await sites.getThumbnail(person, size);
    const own = viewer.kind === 'person' && viewer.via === 'session' && viewer.person.id === person.id;
    return sendThumbnail(request, reply, image, own ? 'own' : photoFreshness(version, image.sourceEtag));
  };

  app.get(
    '/_layouts/15/userphoto.aspx',
    {
      schema: {
        tags: ['SharePoint'],
        summary: "A person's Sites photo (or placeholder) in size S, M or L",
        querystring: Type.Object({
          size: Type.Optional(
            Type.String({
              pattern: '^\\s*[SMLsml]\\s*$',
              errorMessage: 'The photo size must be S, M or L.',
              description: 'S (48×48), M (72×72, the default) or L (up to 300 pixels)',
            }),
          ),
          accountname: Type.String({
            minLength: 1,
            maxLength: 400,
            title: 'account name',
            description: 'UPN, mail address or claims name',
          }),
          t: Type.Optional(
            Type.String({ maxLength: 200, description: 'The version the URL shows (its Mail ETag): browsers keep such a URL for good' }),
          ),
        }),
        response: { 200: Jpeg, 304: NoBody, ...errors },
      },
    },
    async (request, reply) => {
      const viewer = await auth.requireActor(request);
      const size = thumbnailSizeOf(request.query.size ?? 'M') ?? 'M';
      const name = accountNameOf(request.query.accountname);
      const person = await directory.findByUpnOrMail(name);
      if (!person) throw new NotFound(`There is no person with the account name ${shown(name)}.`);
      return servePhoto(request, reply, viewer, person, size, request.query.t);
    },
  );

  app.get(
    `${PROFILE_PICTURES_PATH}/:file`,
    {
      schema: {
        tags: ['SharePoint'],
        summary: 'A profile picture file, e.g. ada_contoso_com_MThumb.jpg',
        params: Type.Object({ file: Type.String({ description: 'The picture name, then _SThumb.jpg, _MThumb.jpg or _LThumb.jpg' }) }),
        querystring: Type.Object({
          t: Type.Optional(Type.String({ maxLength: 200, description: 'The version the URL shows (its Mail ETag)' })),
        }),
        response: { 200: Jpeg, 304: NoBody, ...errors },
      },
    },
    async (request, reply) => {
      const viewer = await auth.requireActor(request);
      const found = await sites.findByThumbnailFile(request.params.file);
      if (!found) throw new NotFound(`There is no profile picture named ${shown(request.params.file)}.`);
      return servePhoto(request, reply, viewer, found.person, found.size, request.query.t);
    },
  );

  // The PeopleManager calls PnPjs `@pnp/sp/profiles` makes. Registered lower case: the app lower-cases
  // `/_api/` paths before routing (lowerCaseApiPath), as SharePoint matches them in any case.
  app.get(
    `${PEOPLE_MANAGER}/getmyproperties`,
    {
      config: { swaggerTransform: spelledAs(`${PEOPLE_MANAGER_NAME}/GetMyProperties`) },
      schema: {
        tags: ['SharePoint'],
        summary: "The signed-in person's profile properties",
        description: 'As `@pnp/sp/profiles` `sp.profiles.myProperties()` reads them. The path is matched in any case.',
        headers: AcceptHeader,
        response: { 200: PersonPropertiesReply, ...errors },
      },
    },
    async (request, reply) => sendPersonProperties(request, reply, (await signedInPerson(request)).person),
  );

  app.get(
    `${PEOPLE_MANAGER}/getpropertiesfor:argument`,
    {
      config: { swaggerTransform: spelledAs(`${PEOPLE_MANAGER_NAME}/GetPropertiesFor:argument`) },
      schema: {
        tags: ['SharePoint'],
        summary: "A person's profile properties",
        description: 'As `sp.profiles.getPropertiesFor(name)` reads them. The path is matched in any case.',
        params: Type.Object({
          argument: Type.String({
            pattern: "^\\((?:accountname=)?(?:'[^']{1,400}'|@v)\\)$",
            errorMessage: NAME_THE_PERSON,
            description:
              "`(accountName=@v)` with the account name in `@v`; PnPjs's `(@v)`; or the name inline: `(accountName='ada@contoso.example')`",
            examples: ['(accountName=@v)'],
          }),
        }),
        querystring: Type.Object({
          '@v': Type.Optional(
            Type.String({
              maxLength: 402,
              description: 'The account name in single quotes: a claims name, a user principal name or a mail address',
              examples: ["'i:0#.f|membership|ada@contoso.example'"],
            }),
          ),
        }),
        headers: AcceptHeader,
        response: { 200: PersonPropertiesReply, ...errors },
      },
    },
    async (request, reply) => {
      await signedInPerson(request);
      const target = await directory.findByUpnOrMail(accountNameArgument(request.params.argument, request.query['@v']));
      if (!target) throw new NotFound('There is no person with that account name.');
      return sendPersonProperties(request, reply, target);
    },
  );

  app.post(
    `${PEOPLE_MANAGER}/setmyprofilepicture`,
    {
      config: { swaggerTransform: spelledAs(`${PEOPLE_MANAGER_NAME}/SetMyProfilePicture`) },
      schema: {
        tags: ['SharePoint'],
        summary: "Set the signed-in person's photo (stored in Mail, then synced to Sites)",
        description:
          'As `sp.profiles.setMyProfilePic(bytes)` sends it: the raw image, whatever its Content-Type says (PnPjs labels it `application/json`). BMP, JPEG or PNG, at most 5,000,000 bytes. Mail stays the one source of truth: the photo is written there, then Sites syncs.',
        consumes: ['image/jpeg', 'image/png', 'image/bmp'],
        body: Type.Unsafe<Buffer | undefined>({ format: 'binary', description: 'The image: BMP, JPEG or PNG, at most 5,000,000 bytes' }),
        headers: Type.Object({
          'X-RequestDigest': Type.Optional(
            Type.String({
              description:
                'Required when signed in with a browser session (any value): a cross-site form cannot send it. Not needed with a bearer token.',
            }),
          ),
        }),
        response: { 200: NullReply, ...errors, 403: GraphError, 413: GraphError, 415: GraphError, 503: GraphError },
      },
      // Its refusals (401, 403, 404, 503) need only the headers: they are answered before the body is read.
      onRequest: async (request) => {
        sites.assertMaySetProfilePicture(await auth.requireActor(request), profilePictureRequest(request));
      },
    },
    async (request, reply) => {
      await sites.setMyProfilePicture(await auth.requireActor(request), profilePictureRequest(request), request.body ?? Buffer.alloc(0));
      return sendODataJson(request, reply, { 'odata.null': true });
    },
  );

  const signedInPerson = async (request: FastifyRequest) => sites.personCalling(await auth.requireActor(request));

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
};

function profilePictureRequest(request: FastifyRequest): ProfilePictureRequest {
  const digest = request.headers['x-requestdigest'];
  return { requestDigest: Array.isArray(digest) ? digest[0] : digest };
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
 * The account name `GetPropertiesFor` names: inline (`(accountName='…')`) or in the `@v` alias, whose
 * value is quoted OData-style (`'…'`, a quote doubled inside). The route's schema has checked the form.
 */
function accountNameArgument(argument: string, alias: string | undefined): string {
  const raw = /'(.*)'/s.exec(argument)?.[1] ?? alias;
  if (!raw) throw new InvalidInput(NAME_THE_PERSON);
  const value = raw
    .trim()
    .replace(/^'(.*)'$/s, '$1')
    .replace(/''/g, "'");
  if (value.length === 0 || value.length > 400) throw new InvalidInput('The account name must be 1 to 400 characters.');
  return accountNameOf(value);
}

function sendThumbnail(request: FastifyRequest, reply: FastifyReply, image: ThumbnailImage, freshness: PhotoFreshness): FastifyReply {
  reply.header('etag', image.etag).header('cache-control', PHOTO_CACHE_CONTROL[freshness]);
  if (ifNoneMatchHits(request.headers['if-none-match'], image.etag)) return reply.code(304).send();
  return reply.type('image/jpeg').send(image.bytes);
}
