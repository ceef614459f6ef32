/**
 * The PeopleManager calls as OpenAPI paths. They are served by one `/_api/*` route (PnPjs lower-cases
 * the path and SharePoint matches any case, which fastify's router cannot), so the document would
 * otherwise show only that catch-all; `/docs` lists these three instead, with their parameters and
 * bodies, under the names SharePoint documents.
 */

const PEOPLE_MANAGER = '/_api/SP.UserProfiles.PeopleManager';
const TAGS = ['SharePoint'];
/** `/_api/*` in the document fastify generates from the route. */
export const PEOPLE_MANAGER_CATCH_ALL_PATH = '/_api/{*}';

const acceptHeader = {
  name: 'Accept',
  in: 'header',
  required: false,
  description: '`application/json;odata=verbose` wraps the answer in `d` with `results` arrays, as SharePoint does; anything else gives the plain shape PnPjs reads.',
  schema: { type: 'string', example: 'application/json' },
};

const graphError = {
  description: 'Error body (`{"error":{"code","message"}}`), as everywhere in photosync',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  },
};

const personProperties = {
  description: 'SP.UserProfiles.PersonProperties',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: {
          AccountName: { type: 'string', example: 'i:0#.f|membership|ada@contoso.example' },
          DisplayName: { type: 'string' },
          Email: { type: 'string', nullable: true },
          PersonalUrl: { type: 'string', description: "The person's profile page" },
          PictureUrl: { type: 'string', nullable: true, description: 'The M thumbnail; null while Sites shows the placeholder' },
          Title: { type: 'string', nullable: true },
          UserUrl: { type: 'string' },
          UserProfileProperties: {
            type: 'array',
            description: 'PictureURL, PictureImportEnabled, SPS-PicturePlaceholderState, SPS-PictureTimestamp, SPS-PictureExchangeSyncState, …',
            items: {
              type: 'object',
              properties: { Key: { type: 'string' }, Value: { type: 'string' }, ValueType: { type: 'string', example: 'Edm.String' } },
            },
          },
        },
      },
    },
  },
};

const errors = { 401: graphError, 400: graphError, 404: graphError };

/** The three PeopleManager calls photosync answers, keyed by path. */
export const PEOPLE_MANAGER_OPENAPI_PATHS: Record<string, Record<string, unknown>> = {
  [`${PEOPLE_MANAGER}/GetMyProperties`]: {
    get: {
      tags: TAGS,
      summary: "The signed-in person's profile properties",
      description: 'As `@pnp/sp/profiles` `sp.profiles.myProperties()` reads them. The path is matched in any case.',
      parameters: [acceptHeader],
      responses: { 200: personProperties, ...errors },
    },
  },
  [`${PEOPLE_MANAGER}/GetPropertiesFor(accountName=@v)`]: {
    get: {
      tags: TAGS,
      summary: "A person's profile properties",
      description:
        "As `sp.profiles.getPropertiesFor(name)` reads them. PnPjs sends `GetPropertiesFor(@v)`; the account name may also be given inline: `GetPropertiesFor(accountName='ada@contoso.example')`. The path is matched in any case.",
      parameters: [
        {
          name: '@v',
          in: 'query',
          required: true,
          description: "The account name in single quotes: a claims name, a user principal name or a mail address",
          schema: { type: 'string', example: "'i:0#.f|membership|ada@contoso.example'" },
        },
        acceptHeader,
      ],
      responses: { 200: personProperties, ...errors },
    },
  },
  [`${PEOPLE_MANAGER}/SetMyProfilePicture`]: {
    post: {
      tags: TAGS,
      summary: "Set the signed-in person's photo (stored in Mail, then synced to Sites)",
      description:
        'As `sp.profiles.setMyProfilePic(bytes)` sends it: the raw image, whatever its Content-Type says (PnPjs labels it `application/json`). BMP, JPEG or PNG, at most 5,000,000 bytes. Mail stays the one source of truth: the photo is written there, then Sites syncs.',
      parameters: [
        {
          name: 'X-RequestDigest',
          in: 'header',
          required: false,
          description: 'Required when signed in with a browser session (any value): a cross-site form cannot send it. Not needed with a bearer token.',
          schema: { type: 'string' },
        },
      ],
      requestBody: {
        required: true,
        content: {
          'image/jpeg': { schema: { type: 'string', format: 'binary' } },
          'image/png': { schema: { type: 'string', format: 'binary' } },
          'image/bmp': { schema: { type: 'string', format: 'binary' } },
        },
      },
      responses: {
        200: { description: 'Stored', content: { 'application/json': { schema: { type: 'object', properties: { 'odata.null': { type: 'boolean', example: true } } } } } },
        ...errors,
        403: graphError,
        413: graphError,
        415: graphError,
      },
    },
  },
};

/** The OpenAPI document with the catch-all replaced by the three calls it serves. */
export function withPeopleManagerPaths<T extends { paths?: Record<string, unknown> }>(openapiObject: T): T {
  const paths: Record<string, unknown> = {};
  for (const [path, item] of Object.entries(openapiObject.paths ?? {})) {
    if (path === PEOPLE_MANAGER_CATCH_ALL_PATH) Object.assign(paths, PEOPLE_MANAGER_OPENAPI_PATHS);
    else paths[path] = item;
  }
  return { ...openapiObject, paths };
}
