import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DirectoryService, Person } from '../directory/index.ts';
import { isConfinedToPasswordChange, SESSION_COOKIE, type Actor, type IdentityService } from '../identity/index.ts';
import { graphPhotoSizeOf, type GraphPhotoSize, type SiteThumbnailSize } from '../imaging/index.ts';
import { quoteEtag, type MailPhotoService } from '../mail/index.ts';
import { accountNameOf, PROFILE_PICTURES_PATH, thumbnailSizeOf, type SitesService } from '../sites/index.ts';
import { ifNoneMatchHits, PHOTO_CACHE_CONTROL, photoFreshness, type PhotoFreshness } from '../http/index.ts';

export interface PhotoFastPathOptions {
  identity: IdentityService;
  directory: DirectoryService;
  mail: MailPhotoService;
  sites: SitesService;
  /** The headers every API answer carries (security-headers.ts). */
  securityHeaders: Record<string, string>;
  /** Where answers of this route and status are counted (metrics): asked once per pair, then added to. */
  answerCount(route: FastRoute, status: 200 | 304): { count: number };
}

const FAST_ROUTES = ['userphoto', 'profile-picture', 'graph-photo-value', 'graph-photos-size-value'] as const;
export type FastRoute = (typeof FAST_ROUTES)[number];

/** What a hot-read URL asks for, read from the URL alone (so it can be remembered per URL). */
type Target =
  | { route: 'userphoto'; accountName: string; size: SiteThumbnailSize; version: string | undefined }
  | { route: 'profile-picture'; file: string; version: string | undefined }
  | {
      route: 'graph-photo-value' | 'graph-photos-size-value';
      /** The id or UPN in `/users/{user}/`, or null for `/me/`. */
      user: string | null;
      size: GraphPhotoSize | undefined;
      version: string | undefined;
    };

/** What the fast path found in memory: the image and how long it may be kept. */
interface Found {
  /** The object the cache holds (its header blocks are kept per object) and what to send of it. */
  image: object;
  bytes: Buffer;
  etag: string;
  contentType: string;
  freshness: Exclude<PhotoFreshness, 'own'>;
}

/**
 * Response headers of one image at one freshness, each ending in a `request-id` pair whose value is
 * written just before each use (writeHead reads the array at once and keeps nothing of it).
 */
interface HeaderBlock {
  ok: string[];
  notModified: string[];
}

const USER_PHOTO = '/_layouts/15/userphoto.aspx?';
const PICTURE_FILES = `${encodeURI(PROFILE_PICTURES_PATH)}/`;
const GRAPH_ME = '/v1.0/me/';
const GRAPH_USERS = '/v1.0/users/';
const BEARER = /^Bearer\s+(\S+)\s*$/i;
/**
 * Parsed URLs remembered (pages ask for the same avatars again and again): at most this many, of at
 * most this length (anyone can send URLs, so their memory stays a few MB), starting over when full.
 */
const REMEMBERED_URLS = 10_000;
const REMEMBERED_URL_LENGTH = 512;

/**
 * The hot image reads (userphoto.aspx, the profile picture files, Graph's photo `$value`s) answered
 * from memory before fastify sees them, in one synchronous step: the URL's meaning, the credential,
 * the person and the image bytes are each a map lookup, and the headers are built once per image.
 * This is what every page with dozens of avatars costs, so it does only what these reads need.
 *
 * It answers only a plain 200 or 304 whose every part is already in the services' caches, which the
 * full routes fill and whose invalidation (here and across processes) is theirs. Everything else —
 * a refusal, an error, a cold cache, HEAD, an unusual query, and a person's own Sites photo (where the
 * user-initiated sync hooks in) — returns false and goes to the full app, which answers it by the
 * same rules. The access-rule table runs through both.
 */
export function createPhotoFastPath(options: PhotoFastPathOptions): (request: IncomingMessage, response: ServerResponse) => boolean {
  const { identity, directory, mail, sites } = options;
  const security = Object.entries(options.securityHeaders).flat();
  const answers = new Map(
    FAST_ROUTES.map((route) => [route, { 200: options.answerCount(route, 200), 304: options.answerCount(route, 304) }]),
  );
  // Header blocks per image object: the caches hand out the same object until the photo changes.
  const headerBlocks = new WeakMap<object, Partial<Record<Found['freshness'], HeaderBlock>>>();
  const targets = new Map<string, Target>();

  const headersFor = (found: Found): HeaderBlock => {
    let blocks = headerBlocks.get(found.image);
    if (!blocks) headerBlocks.set(found.image, (blocks = {}));
    let block = blocks[found.freshness];
    if (!block) {
      const common = ['etag', found.etag, 'cache-control', PHOTO_CACHE_CONTROL[found.freshness], ...security];
      block = {
        ok: ['content-type', found.contentType, 'content-length', String(found.bytes.length), ...common, 'request-id', ''],
        notModified: [...common, 'request-id', ''],
      };
      blocks[found.freshness] = block;
    }
    return block;
  };

  const targetOf = (url: string): Target | undefined => {
    if (url.length > REMEMBERED_URL_LENGTH) return parseTarget(url);
    let target = targets.get(url);
    if (target === undefined) {
      target = parseTarget(url);
      if (target === undefined) return undefined;
      if (targets.size >= REMEMBERED_URLS) targets.clear();
      targets.set(url, target);
    }
    return target;
  };

  /** Who is asking, as request-authentication.ts decides it, when memory knows; else undefined. */
  const viewerOf = (request: IncomingMessage): Actor | undefined => {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      return token === undefined ? undefined : identity.peekBearer(token);
    }
    const session = sessionCookie(request.headers.cookie);
    const actor = session === undefined ? undefined : identity.peekSession(session);
    return actor && !isConfinedToPasswordChange(actor) ? actor : undefined;
  };

  const find = (target: Target, viewer: Actor): Found | undefined => {
    switch (target.route) {
      case 'userphoto': {
        const person = directory.peekByUpnOrMail(target.accountName);
        // A disabled person's placeholder is the full route's to give.
        if (!person?.enabled || ownSitesPhoto(viewer, person)) return undefined;
        return sitesPhoto(person, target.size, target.version);
      }
      case 'profile-picture': {
        const found = sites.peekThumbnailFile(target.file);
        if (!found?.person.enabled || ownSitesPhoto(viewer, found.person)) return undefined;
        return sitesPhoto(found.person, found.size, target.version);
      }
      default: {
        const person = target.user === null ? (viewer.kind === 'person' ? viewer.person : undefined) : directory.peekPerson(target.user);
        const rendition = person && mail.peekRendition(person.id, target.size);
        if (!rendition) return undefined;
        return {
          image: rendition,
          bytes: rendition.bytes,
          etag: quoteEtag(rendition.etag),
          contentType: rendition.contentType,
          freshness: photoFreshness(target.version, rendition.versionEtag),
        };
      }
    }
  };

  const sitesPhoto = (person: Person, size: SiteThumbnailSize, version: string | undefined): Found | undefined => {
    const image = sites.peekThumbnail(person.id, size);
    if (!image) return undefined;
    return { image, bytes: image.bytes, etag: image.etag, contentType: 'image/jpeg', freshness: photoFreshness(version, image.sourceEtag) };
  };

  return (request, response) => {
    const url = request.url;
    if (request.method !== 'GET' || url === undefined) return false;
    const target = targetOf(url);
    if (!target) return false;
    const viewer = viewerOf(request);
    if (!viewer) return false;
    const found = find(target, viewer);
    if (!found) return false;
    const block = headersFor(found);
    const counts = answers.get(target.route)!;
    if (ifNoneMatchHits(request.headers['if-none-match'], found.etag)) {
      block.notModified[block.notModified.length - 1] = randomUUID();
      response.writeHead(304, block.notModified);
      response.end();
      counts[304].count++;
    } else {
      block.ok[block.ok.length - 1] = randomUUID();
      response.writeHead(200, block.ok);
      response.end(found.bytes);
      counts[200].count++;
    }
    return true;
  };
}

/** What a URL asks of the fast path, from the URL alone; undefined when it is not a hot read it can answer. */
function parseTarget(url: string): Target | undefined {
  if (url.startsWith(USER_PHOTO)) {
    const query = parseQuery(url.slice(USER_PHOTO.length));
    const size = query && thumbnailSizeOf(query.size ?? 'M');
    const name = query?.accountname;
    if (!size || name === undefined || name.length === 0 || name.length > 400 || (query.size?.length ?? 0) > 8) return undefined;
    return { route: 'userphoto', accountName: accountNameOf(name), size, version: query.t };
  }
  if (url.startsWith(PICTURE_FILES)) {
    const { path, query } = splitQuery(url.slice(PICTURE_FILES.length));
    const version = query === undefined ? undefined : versionParameter(query, 't');
    const file = decodedSegment(path);
    return version === null || file === undefined ? undefined : { route: 'profile-picture', file, version };
  }
  let user: string | null;
  let rest: string;
  if (url.startsWith(GRAPH_ME)) {
    user = null;
    rest = url.slice(GRAPH_ME.length);
  } else if (url.startsWith(GRAPH_USERS)) {
    const slash = url.indexOf('/', GRAPH_USERS.length);
    const segment = slash < 0 ? undefined : decodedSegment(url.slice(GRAPH_USERS.length, slash));
    if (segment === undefined || segment.length > 256) return undefined;
    user = segment;
    rest = url.slice(slash + 1);
  } else {
    return undefined;
  }
  const { path, query } = splitQuery(rest);
  const version = query === undefined ? undefined : versionParameter(query, 'v');
  if (version === null) return undefined;
  if (path === 'photo/$value') return { route: 'graph-photo-value', user, size: undefined, version };
  if (!path.startsWith('photos/') || !path.endsWith('/$value')) return undefined;
  const size = graphPhotoSizeOf(path.slice('photos/'.length, -'/$value'.length));
  return size ? { route: 'graph-photos-size-value', user, size, version } : undefined;
}

/** The viewer's own Sites photo goes through the full route: its request is where the sync hooks in. */
function ownSitesPhoto(viewer: Actor, person: Person): boolean {
  return viewer.kind === 'person' && viewer.via === 'session' && viewer.person.id === person.id;
}

/** The session cookie's value, when the Cookie header carries exactly one plain one. */
function sessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const name = `${SESSION_COOKIE}=`;
  let start = header.startsWith(name) ? 0 : header.indexOf(`; ${name}`);
  if (start < 0) return undefined;
  if (start > 0) start += 2;
  if (header.includes(`; ${name}`, start + 1)) return undefined;
  const end = header.indexOf(';', start);
  const value = header.slice(start + name.length, end < 0 ? undefined : end).trim();
  // Session ids are base64url; anything else (quoted, percent-encoded) is left to the cookie parser.
  return /^[A-Za-z0-9_-]{1,200}$/.test(value) ? value : undefined;
}

/** userphoto.aspx's query as fastify would read it, when it holds only size, accountname (each once) and t. */
function parseQuery(query: string): { size?: string; accountname?: string; t?: string } | undefined {
  const result: { size?: string; accountname?: string; t?: string } = {};
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const key = equals < 0 ? pair : pair.slice(0, equals);
    if (key !== 'size' && key !== 'accountname' && key !== 't') return undefined;
    if (result[key] !== undefined) return undefined;
    const value = decodedComponent(equals < 0 ? '' : pair.slice(equals + 1).replaceAll('+', ' '));
    if (value === undefined) return undefined;
    result[key] = value;
  }
  return result;
}

function splitQuery(rest: string): { path: string; query?: string } {
  const mark = rest.indexOf('?');
  return mark < 0 ? { path: rest } : { path: rest.slice(0, mark), query: rest.slice(mark + 1) };
}

/** The version a query of just `<name>=<version>` names (the pages write such URLs); null for any other query. */
function versionParameter(query: string, name: 't' | 'v'): string | null {
  if (!query.startsWith(`${name}=`)) return null;
  const value = query.slice(2);
  return /^[A-Za-z0-9_-]{0,200}$/.test(value) ? value : null;
}

function decodedSegment(segment: string): string | undefined {
  if (segment.length === 0 || segment.includes('/') || segment.includes('?')) return undefined;
  return decodedComponent(segment);
}

function decodedComponent(value: string): string | undefined {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
