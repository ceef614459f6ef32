import { runOutcome } from '../support/sync-fixtures.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { registeredRoutes } from '../../src/app.ts';
import type { Person } from '../../src/directory/index.ts';
import { CLI_ACTOR, SESSION_COOKIE, SIGN_IN_FAILED } from '../../src/identity/index.ts';
import {
  ACTORS,
  createAccessWorld,
  describeResponse,
  imageHeaderProblems,
  outcomeProblems,
  pageHeaderProblems,
  type ActorName,
  type CellRequest,
  type World,
} from '../support/access-world.ts';
import { DATABASE_KINDS } from '../support/databases.ts';
import { cookiesOf, startTestApp, TEST_PASSWORD } from '../support/test-app.ts';

/*
 * The access rules of every route the server registers, as one table: route × actor × target.
 *
 * Targets: `none` (no person in the request; `/v1.0/me/…` means the actor themself), `own` (the
 * actor's own UPN in the path or query), `other` (someone else's), `own+other` (one row for both).
 * Actors (columns): anonymous · person (Ada's session) · otherPerson (Grace's session) · admin
 * (an admin's session) · personToken (Ada's bearer token) · adminToken (an admin's token with the
 * default `photos` scope) · revokedToken (Ada's revoked token sent WITH a valid session cookie of Ada) ·
 * expiredSession (Ada's session past SESSION_TTL_HOURS) · oneTimeAdmin (the first admin's session,
 * signed in with the one-time password and not changed yet) · adminScopedToken (an admin's token made
 * with `--scope admin`) · expiredToken (Ada's token past its expiry, sent WITH a valid session of Ada).
 *
 * The rules, from DESIGN.md and README:
 * - Anyone signed in (session or token) may read photos and profiles; a person may change only their
 *   own Mail photo, an admin anyone's. The Graph API and `/_api` answer 401 with Graph's error body
 *   to anyone without a valid credential; an invalid bearer token is never silently replaced by the
 *   cookie (or by nothing) on any route that looks at who is asking.
 * - Portal pages send a visitor without a (valid) session to /signin (303); the pages treat an
 *   invalid credential as none. Admin pages (and /metrics) answer 403 to people who are not admins,
 *   and to an admin's token without the `admin` scope: it acts on photos as its person (an admin's
 *   Set-UserPhoto right included), nothing more. An expired token is refused like a revoked one.
 * - A session signed in with a one-time password opens only the password page and sign-out: every
 *   other page sends it to /account/password, every API answers 403 until the password is changed.
 * - userphoto.aspx and the profile picture files are what the pages' <img> tags load (with the
 *   session cookie). As in SharePoint Online they need a signed-in viewer: anonymous visitors get
 *   401 and so cannot learn who exists by trying account names. A revoked token gets 401 too.
 * - SetMyProfilePicture from a browser session must carry X-RequestDigest (a custom header a
 *   cross-site form cannot send): without it, 403. API tokens need no digest.
 * - Operations (but /metrics: an admin, or METRICS_TOKEN), the OpenAPI document/UI and the assets are public.
 *
 * Outcome notation: see outcomeProblems() in test/support/access-world.ts.
 */

type Target = 'none' | 'own' | 'other' | 'own+other';
type O = string;
type Row = [
  caseKey: string,
  target: Target,
  anonymous: O,
  person: O,
  otherPerson: O,
  admin: O,
  personToken: O,
  adminToken: O,
  revokedToken: O,
  expiredSession: O,
  oneTimeAdmin: O,
  adminScopedToken: O,
  expiredToken: O,
];

// Outcomes used often. SIGNIN is "sent to sign in" (a refusal); SIGNED_OUT is sign-out's own success.
const SIGNIN = '303 → /signin*';
const G401 = '401 graph';
const G403 = '403 graph';
const P403 = '403 html';
const OK_JSON = '200 json';
const OK_HTML = '200 html';
const OK_IMG = '200 image';
const HOME = '303 → /';
const SIGNED_OUT = '303 → /signin';
const UPLOADED = '303 → /mail/photo?done=uploaded';
const REMOVED = '303 → /mail/photo?done=removed';
const PASSWORD_SET = '303 → /?done=password';
const SETTINGS_SAVED = '303 → /admin/sync?done=settings';
const POLICY_SAVED = '303 → /admin/directory?done=policy';
// OIDC sign-in is not configured in this world: its routes say so to everyone (test/integration/oidc-sign-in.test.ts covers them configured).
const NO_OIDC = '404 html';
const TO_RUN = '303 → /admin/runs/*';
const SYNCED = '303 → /admin/sync/people/*';
const TO_PERSON = '303 → /admin/people/*';
const PEOPLE_SETTINGS_SAVED = '303 → /admin/people?done=settings';
const PERSON_REMOVED = '303 → /admin/people?done=removed';
const H400 = '400 html';
const TO_DOCS = '302 → /docs/';
const EVENTS = '200 events';
const P401 = '401 html';
// A one-time password's refusal on a page: sent to change it (exactly there).
const PASSWORD_FIRST = '303 → /account/password';
// Signing in with a one-time password succeeds (a session is issued) and goes to the password page.
// Written with `*` to tell this success from the refusal above, which has the same Location.
const CHOOSE_PASSWORD = '303 → /account/password*';

// HEAD routes are not rows: each is generated from the GET row of the same pattern ("same as GET"),
// unless a row names the HEAD route itself.
const TABLE: Row[] = [
  // case                                       target       anonymous   person        otherPerson   admin           personToken   adminToken    revokedToken expiredSession oneTimeAdmin     adminScopedToken expiredToken
  // Operations, documentation, assets: public.
  ['GET /healthz', 'none', OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON],
  ['GET /readyz', 'none', OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON],
  ['GET /metrics', 'none', G401, G403, G403, '200', G403, G403, G401, G401, G403, '200', G401],
  ['GET /docs', 'none', OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML],
  ['HEAD /docs/', 'none', OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML],
  [
    'GET /docs/static/index.html',
    'none',
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
    TO_DOCS,
  ],
  ['GET /docs/static/swagger-initializer.js', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /docs/static/theme/photosync.css', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /docs/static/theme/photosync.js', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /docs/static/theme/favicon.svg', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /docs/static/*', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /docs/json', 'none', OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON],
  ['GET /docs/yaml', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/cropper.min.css', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/cropper.min.js', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/favicon.svg', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/local-time.js', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/photo-crop.js', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/portal.css', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],
  ['GET /assets/run-progress.js', 'none', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200', '200'],

  // Sign-in and the portal.
  ['GET /signin', 'none', OK_HTML, HOME, HOME, HOME, HOME, HOME, OK_HTML, OK_HTML, OK_HTML, HOME, OK_HTML],
  ['POST /signin', 'none', HOME, HOME, HOME, HOME, HOME, HOME, HOME, HOME, CHOOSE_PASSWORD, HOME, HOME],
  ['GET /signin/oidc', 'none', NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC],
  ['GET /signin/oidc/callback', 'none', NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC, NO_OIDC],
  [
    'POST /signout',
    'none',
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
    SIGNED_OUT,
  ],
  ['GET /', 'none', SIGNIN, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['GET /mail/photo', 'none', SIGNIN, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['POST /mail/photo', 'none', SIGNIN, UPLOADED, UPLOADED, UPLOADED, UPLOADED, UPLOADED, SIGNIN, SIGNIN, PASSWORD_FIRST, UPLOADED, SIGNIN],
  ['POST /mail/photo/remove', 'none', SIGNIN, REMOVED, REMOVED, REMOVED, REMOVED, REMOVED, SIGNIN, SIGNIN, PASSWORD_FIRST, REMOVED, SIGNIN],
  ['GET /account/password', 'none', SIGNIN, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, SIGNIN, SIGNIN, OK_HTML, OK_HTML, SIGNIN],
  [
    'POST /account/password',
    'none',
    SIGNIN,
    PASSWORD_SET,
    PASSWORD_SET,
    PASSWORD_SET,
    PASSWORD_SET,
    PASSWORD_SET,
    SIGNIN,
    SIGNIN,
    PASSWORD_SET,
    PASSWORD_SET,
    SIGNIN,
  ],

  // The Graph photo API: /v1.0/me/… (the actor's own photo).
  ['GET /v1.0/me/photo', 'none', G401, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, G401, G401, G403, OK_JSON, G401],
  ['GET /v1.0/me/photo/$value', 'none', G401, OK_IMG, OK_IMG, OK_IMG, OK_IMG, OK_IMG, G401, G401, G403, OK_IMG, G401],
  ['GET /v1.0/me/photos', 'none', G401, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, G401, G401, G403, OK_JSON, G401],
  ['GET /v1.0/me/photos/:size', 'none', G401, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, G401, G401, G403, OK_JSON, G401],
  ['GET /v1.0/me/photos/:size/$value', 'none', G401, OK_IMG, OK_IMG, OK_IMG, OK_IMG, OK_IMG, G401, G401, G403, OK_IMG, G401],
  ['PUT /v1.0/me/photo/$value', 'none', G401, '200', '200', '200', '200', '200', G401, G401, G403, '200', G401],
  ['PATCH /v1.0/me/photo/$value', 'none', G401, '200', '200', '200', '200', '200', G401, G401, G403, '200', G401],
  ['DELETE /v1.0/me/photo', 'none', G401, '204', '204', '204', '204', '204', G401, G401, G403, '204', G401],

  // The Graph photo API: /v1.0/users/{upn}/… — anyone signed in reads; only the person or an admin writes.
  ['GET /v1.0/users/:user/photo', 'own+other', G401, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, G401, G401, G403, OK_JSON, G401],
  ['GET /v1.0/users/:user/photo/$value', 'own+other', G401, OK_IMG, OK_IMG, OK_IMG, OK_IMG, OK_IMG, G401, G401, G403, OK_IMG, G401],
  ['GET /v1.0/users/:user/photos', 'own+other', G401, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, G401, G401, G403, OK_JSON, G401],
  ['GET /v1.0/users/:user/photos/:size', 'own+other', G401, OK_JSON, OK_JSON, OK_JSON, OK_JSON, OK_JSON, G401, G401, G403, OK_JSON, G401],
  ['GET /v1.0/users/:user/photos/:size/$value', 'own+other', G401, OK_IMG, OK_IMG, OK_IMG, OK_IMG, OK_IMG, G401, G401, G403, OK_IMG, G401],
  ['PUT /v1.0/users/:user/photo/$value', 'own', G401, '200', '200', '200', '200', '200', G401, G401, G403, '200', G401],
  ['PUT /v1.0/users/:user/photo/$value', 'other', G401, G403, G403, '200', G403, '200', G401, G401, G403, '200', G401],
  ['PATCH /v1.0/users/:user/photo/$value', 'own', G401, '200', '200', '200', '200', '200', G401, G401, G403, '200', G401],
  ['PATCH /v1.0/users/:user/photo/$value', 'other', G401, G403, G403, '200', G403, '200', G401, G401, G403, '200', G401],
  ['DELETE /v1.0/users/:user/photo', 'own', G401, '204', '204', '204', '204', '204', G401, G401, G403, '204', G401],
  ['DELETE /v1.0/users/:user/photo', 'other', G401, G403, G403, '204', G403, '204', G401, G401, G403, '204', G401],

  // Sites pages.
  ['GET /files', 'none', SIGNIN, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['GET /sites', 'none', SIGNIN, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  [
    'GET /sites/people/:upn',
    'own+other',
    SIGNIN,
    OK_HTML,
    OK_HTML,
    OK_HTML,
    OK_HTML,
    OK_HTML,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    OK_HTML,
    SIGNIN,
  ],
  ['GET /about/photo-sync', 'none', SIGNIN, OK_HTML, OK_HTML, OK_HTML, OK_HTML, OK_HTML, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],

  // SharePoint-style endpoints. The photos are public by intent (README); a revoked token is still refused.
  ['GET /_layouts/15/userphoto.aspx', 'own+other', G401, OK_IMG, OK_IMG, OK_IMG, OK_IMG, OK_IMG, G401, G401, G403, OK_IMG, G401],
  ['GET /User Photos/Profile Pictures/:file', 'own+other', G401, OK_IMG, OK_IMG, OK_IMG, OK_IMG, OK_IMG, G401, G401, G403, OK_IMG, G401],
  [
    'GET /_api/sp.userprofiles.peoplemanager/getmyproperties',
    'none',
    G401,
    OK_JSON,
    OK_JSON,
    OK_JSON,
    OK_JSON,
    OK_JSON,
    G401,
    G401,
    G403,
    OK_JSON,
    G401,
  ],
  [
    'GET /_api/sp.userprofiles.peoplemanager/getpropertiesfor:argument',
    'own+other',
    G401,
    OK_JSON,
    OK_JSON,
    OK_JSON,
    OK_JSON,
    OK_JSON,
    G401,
    G401,
    G403,
    OK_JSON,
    G401,
  ],
  [
    'POST /_api/sp.userprofiles.peoplemanager/setmyprofilepicture',
    'none',
    G401,
    G403,
    G403,
    G403,
    OK_JSON,
    OK_JSON,
    G401,
    G401,
    G403,
    OK_JSON,
    G401,
  ],

  // Admin pages and their forms.
  ['GET /admin/sync', 'none', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  [
    'POST /admin/sync/settings',
    'none',
    SIGNIN,
    P403,
    P403,
    SETTINGS_SAVED,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    SETTINGS_SAVED,
    SIGNIN,
  ],
  ['POST /admin/sync/runs', 'none', SIGNIN, P403, P403, TO_RUN, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, TO_RUN, SIGNIN],
  ['GET /admin/sync/people/:upn', 'own+other', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['POST /admin/sync/people/:upn', 'own+other', SIGNIN, P403, P403, SYNCED, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, SYNCED, SIGNIN],
  ['GET /admin/import', 'none', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['POST /admin/import', 'none', SIGNIN, P403, P403, TO_RUN, P403, P403, SIGNIN, SIGNIN, SIGNIN, TO_RUN, SIGNIN],
  ['GET /admin/audit', 'none', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['GET /admin/directory', 'none', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  [
    'POST /admin/directory/photo-policy',
    'none',
    SIGNIN,
    P403,
    P403,
    POLICY_SAVED,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    POLICY_SAVED,
    SIGNIN,
  ],
  ['POST /admin/directory/sync', 'none', SIGNIN, P403, P403, TO_RUN, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, TO_RUN, SIGNIN],
  ['GET /admin/runs/:id', 'none', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  // The live progress stream is read by EventSource, which cannot follow a sign-in redirect: 401.
  ['GET /admin/runs/:id/events', 'none', P401, P403, P403, EVENTS, P403, P403, P401, P401, P403, EVENTS, P401],
  ['POST /admin/runs/:id/cancel', 'none', SIGNIN, P403, P403, TO_RUN, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, TO_RUN, SIGNIN],

  // The People page. "other" is a scratch person (a cell may disable or remove them); an admin may
  // not disable or remove themself, nor reset their own password here (the password page does that).
  ['GET /admin/people', 'none', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['POST /admin/people', 'none', SIGNIN, P403, P403, TO_PERSON, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, TO_PERSON, SIGNIN],
  [
    'POST /admin/people/settings',
    'none',
    SIGNIN,
    P403,
    P403,
    PEOPLE_SETTINGS_SAVED,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    PEOPLE_SETTINGS_SAVED,
    SIGNIN,
  ],
  ['GET /admin/people/:upn', 'own+other', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['POST /admin/people/:upn/disable', 'own', SIGNIN, P403, P403, P403, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, P403, SIGNIN],
  [
    'POST /admin/people/:upn/disable',
    'other',
    SIGNIN,
    P403,
    P403,
    TO_PERSON,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    TO_PERSON,
    SIGNIN,
  ],
  [
    'POST /admin/people/:upn/enable',
    'own+other',
    SIGNIN,
    P403,
    P403,
    TO_PERSON,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    TO_PERSON,
    SIGNIN,
  ],
  [
    'POST /admin/people/:upn/role',
    'own+other',
    SIGNIN,
    P403,
    P403,
    TO_PERSON,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    TO_PERSON,
    SIGNIN,
  ],
  ['POST /admin/people/:upn/password', 'own', SIGNIN, P403, P403, H400, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, H400, SIGNIN],
  ['POST /admin/people/:upn/password', 'other', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['GET /admin/people/:upn/remove', 'own', SIGNIN, P403, P403, P403, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, P403, SIGNIN],
  ['GET /admin/people/:upn/remove', 'other', SIGNIN, P403, P403, OK_HTML, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, OK_HTML, SIGNIN],
  ['POST /admin/people/:upn/remove', 'own', SIGNIN, P403, P403, P403, P403, P403, SIGNIN, SIGNIN, PASSWORD_FIRST, P403, SIGNIN],
  [
    'POST /admin/people/:upn/remove',
    'other',
    SIGNIN,
    P403,
    P403,
    PERSON_REMOVED,
    P403,
    P403,
    SIGNIN,
    SIGNIN,
    PASSWORD_FIRST,
    PERSON_REMOVED,
    SIGNIN,
  ],
];

/** The forms: every state-changing route outside the APIs (/v1.0, /_api) must refuse a request without its CSRF token. */
const CSRF_FORMS = [
  'POST /signin',
  'POST /signout',
  'POST /mail/photo',
  'POST /mail/photo/remove',
  'POST /account/password',
  'POST /admin/sync/settings',
  'POST /admin/sync/runs',
  'POST /admin/sync/people/:upn',
  'POST /admin/import',
  'POST /admin/directory/photo-policy',
  'POST /admin/directory/sync',
  'POST /admin/runs/:id/cancel',
  'POST /admin/people',
  'POST /admin/people/settings',
  'POST /admin/people/:upn/disable',
  'POST /admin/people/:upn/enable',
  'POST /admin/people/:upn/role',
  'POST /admin/people/:upn/password',
  'POST /admin/people/:upn/remove',
];

// ---------------------------------------------------------------------------------------------
// How each case is requested, and what a cell that changes state must (or must not) have done.

interface Cell {
  w: World;
  actor: ActorName;
  /** The actor's own person (see ActorCredentials.self). */
  self: Person;
  /** The person named in the request: own, other, or (target none) the actor's own. */
  target: Person;
  memo: Record<string, unknown>;
}

interface CaseSpec {
  /** A person is named in the path or query: the table must give both own and other. */
  targeted?: boolean;
  request(c: Cell): CellRequest;
  /** Puts in place the state the cell needs, so cells do not depend on each other's order. */
  before?(c: Cell): Promise<void>;
  /** Waits for the background work a request started (an import, a force sync). */
  settle?(c: Cell, response: LightMyRequestResponse): Promise<void>;
  /** Proves the write happened when allowed, and that nothing changed when refused. */
  effect?(c: Cell, allowed: boolean, response: LightMyRequestResponse): Promise<void>;
  after?(c: Cell): Promise<void>;
  /** The request may end sessions (sign-in, sign-out, password change): they are re-established after it. */
  touchesSessions?: boolean;
}

const NEW_PASSWORD = 'a brand new passphrase 42';
const enc = encodeURIComponent;
const upn = (p: Person) => p.userPrincipalName;
const fileStem = (p: Person) => upn(p).toLowerCase().replace(/[@.]/g, '_');
const accountName = (p: Person) => enc(`'i:0#.f|membership|${upn(p)}'`);

// The People page's actions on "other" act on a scratch person, so no cell disables or removes
// the people whose sessions and tokens the other cells use; "own" is the actor themself.
const SCRATCH_UPN = 'scratch.person@contoso.example';
const isOwn = (c: Cell) => c.target.id === c.self.id;
const lifecycleTarget = (c: Cell) => (isOwn(c) ? upn(c.self) : SCRATCH_UPN);
const lifecyclePerson = (c: Cell) => c.w.t.services.directory.findPersonFresh((c.memo.person as Person).id);
async function ensureScratchPerson(c: Cell): Promise<void> {
  const { directory } = c.w.t.services;
  let person = isOwn(c) ? c.self : await directory.findByUpnOrMail(SCRATCH_UPN, { fresh: true });
  person ??= await c.w.t.services.people.add(CLI_ACTOR, { userPrincipalName: SCRATCH_UPN, password: TEST_PASSWORD });
  c.memo.person = (await directory.findPersonFresh(person.id)) ?? person;
}
const ensureAnyPhoto = (c: Cell) => c.w.ensurePhoto(c.target, 'any');
const photoWrite = (c: Cell) => c.w.ensurePhoto(c.target, 'a');
const photoBecameB = async (c: Cell, allowed: boolean) => {
  assert.equal(
    await c.w.currentEtag(c.target),
    allowed ? c.w.photos.etagB : c.w.photos.etagA,
    allowed ? 'the new photo is stored' : 'the photo is unchanged',
  );
};
const photoRemoved = async (c: Cell, allowed: boolean) => {
  assert.equal(
    await c.w.currentEtag(c.target),
    allowed ? null : c.w.photos.etagA,
    allowed ? 'the photo is removed' : 'the photo is still there',
  );
};
const upload =
  (url: string) =>
  (c: Cell): CellRequest => ({ url, headers: { 'content-type': 'image/jpeg' }, payload: c.w.photos.b });
const runIdIn = (response: LightMyRequestResponse) => /^\/admin\/runs\/([^/?]+)$/.exec(String(response.headers.location ?? ''))?.[1];
const awaitStartedRun = async (c: Cell, response: LightMyRequestResponse) => {
  const id = runIdIn(response);
  if (id) await runOutcome(c.w.t, id);
};

const graphRead = (suffix: string, read: (c: Cell) => Promise<void> = ensureAnyPhoto): { me: CaseSpec; users: CaseSpec } => ({
  me: { before: read, request: () => ({ url: `/v1.0/me${suffix}` }) },
  users: { targeted: true, before: read, request: (c) => ({ url: `/v1.0/users/${upn(c.target)}${suffix}` }) },
});
const graph = {
  photo: graphRead('/photo'),
  value: graphRead('/photo/$value'),
  photos: graphRead('/photos'),
  size: graphRead('/photos/48x48'),
  sizeValue: graphRead('/photos/48x48/$value'),
};

const CASES: Record<string, CaseSpec> = {
  'GET /healthz': { request: () => ({ url: '/healthz' }) },
  'GET /readyz': { request: () => ({ url: '/readyz' }) },
  'GET /metrics': { request: () => ({ url: '/metrics' }) },
  'GET /docs': { request: () => ({ url: '/docs' }) },
  'HEAD /docs/': { request: () => ({ url: '/docs/' }) },
  'GET /docs/static/index.html': { request: () => ({ url: '/docs/static/index.html' }) },
  'GET /docs/static/swagger-initializer.js': { request: () => ({ url: '/docs/static/swagger-initializer.js' }) },
  'GET /docs/static/theme/photosync.css': { request: () => ({ url: '/docs/static/theme/photosync.css' }) },
  'GET /docs/static/theme/photosync.js': { request: () => ({ url: '/docs/static/theme/photosync.js' }) },
  'GET /docs/static/theme/favicon.svg': { request: () => ({ url: '/docs/static/theme/favicon.svg' }) },
  'GET /docs/static/*': { request: () => ({ url: '/docs/static/swagger-ui.css' }) },
  'GET /docs/json': { request: () => ({ url: '/docs/json' }) },
  'GET /docs/yaml': { request: () => ({ url: '/docs/yaml' }) },
  'GET /assets/cropper.min.css': { request: () => ({ url: '/assets/cropper.min.css' }) },
  'GET /assets/cropper.min.js': { request: () => ({ url: '/assets/cropper.min.js' }) },
  'GET /assets/favicon.svg': { request: () => ({ url: '/assets/favicon.svg' }) },
  'GET /assets/local-time.js': { request: () => ({ url: '/assets/local-time.js' }) },
  'GET /assets/photo-crop.js': { request: () => ({ url: '/assets/photo-crop.js' }) },
  'GET /assets/portal.css': { request: () => ({ url: '/assets/portal.css' }) },
  'GET /assets/run-progress.js': { request: () => ({ url: '/assets/run-progress.js' }) },

  'GET /signin': { request: () => ({ url: '/signin' }) },
  'GET /signin/oidc': { request: () => ({ url: '/signin/oidc' }) },
  'GET /signin/oidc/callback': { request: () => ({ url: '/signin/oidc/callback?code=x&state=y' }) },
  'POST /signin': {
    touchesSessions: true,
    request: (c) => ({ url: '/signin', form: { username: upn(c.self), password: c.w.actors[c.actor].password ?? TEST_PASSWORD } }),
    async effect(c, allowed, response) {
      const issued = /photosync_session=([^;]+)/.exec(cookiesOf(response))?.[1];
      if (!allowed) return assert.equal(issued, undefined, 'no session is issued');
      assert.ok(issued, 'a session cookie is issued');
      assert.notEqual(issued, c.w.actors[c.actor].sessionToken, 'a new session id, not the one the browser had');
    },
  },
  'POST /signout': {
    touchesSessions: true,
    request: () => ({ url: '/signout', form: {} }),
    async effect(c, allowed) {
      const session = c.w.actors[c.actor].sessionToken;
      if (!session || c.actor === 'expiredSession') return;
      const alive = await c.w.t.services.identity.resolveSession(session);
      assert.equal(alive === undefined, allowed, allowed ? 'the session has ended' : 'the session is still alive');
    },
  },
  'GET /': { request: () => ({ url: '/' }) },
  'GET /mail/photo': { request: () => ({ url: '/mail/photo' }) },
  'POST /mail/photo': {
    before: photoWrite,
    request: (c) => ({
      url: '/mail/photo',
      multipart: { file: { name: 'photo', filename: 'me.jpg', type: 'image/jpeg', bytes: c.w.photos.b } },
    }),
    effect: photoBecameB,
  },
  'POST /mail/photo/remove': { before: photoWrite, request: () => ({ url: '/mail/photo/remove', form: {} }), effect: photoRemoved },
  'GET /account/password': { request: () => ({ url: '/account/password' }) },
  'POST /account/password': {
    touchesSessions: true,
    async before(c) {
      c.memo.hash = await c.w.t.services.directory.findPasswordHash(c.self.id);
      c.memo.mustChange = (await c.w.t.services.directory.findPerson(c.self.id))?.mustChangePassword ?? false;
    },
    request: (c) => ({
      url: '/account/password',
      form: { current: c.w.actors[c.actor].password ?? TEST_PASSWORD, new: NEW_PASSWORD, confirm: NEW_PASSWORD },
    }),
    async effect(c, allowed) {
      const changed = (await c.w.t.services.directory.findPasswordHash(c.self.id)) !== c.memo.hash;
      assert.equal(changed, allowed, allowed ? 'the password is changed' : 'the password is unchanged');
    },
    async after(c) {
      // The old password comes back as it was: a one-time password stays one to change.
      const hash = c.memo.hash as string;
      if ((await c.w.t.services.directory.findPasswordHash(c.self.id)) !== hash)
        await c.w.t.services.directory.setPasswordHash(c.self.id, hash, c.memo.mustChange as boolean);
    },
  },

  'GET /v1.0/me/photo': graph.photo.me,
  'GET /v1.0/me/photo/$value': graph.value.me,
  'GET /v1.0/me/photos': graph.photos.me,
  'GET /v1.0/me/photos/:size': graph.size.me,
  'GET /v1.0/me/photos/:size/$value': graph.sizeValue.me,
  'PUT /v1.0/me/photo/$value': { before: photoWrite, request: upload('/v1.0/me/photo/$value'), effect: photoBecameB },
  'PATCH /v1.0/me/photo/$value': { before: photoWrite, request: upload('/v1.0/me/photo/$value'), effect: photoBecameB },
  'DELETE /v1.0/me/photo': { before: photoWrite, request: () => ({ url: '/v1.0/me/photo' }), effect: photoRemoved },
  'GET /v1.0/users/:user/photo': graph.photo.users,
  'GET /v1.0/users/:user/photo/$value': graph.value.users,
  'GET /v1.0/users/:user/photos': graph.photos.users,
  'GET /v1.0/users/:user/photos/:size': graph.size.users,
  'GET /v1.0/users/:user/photos/:size/$value': graph.sizeValue.users,
  'PUT /v1.0/users/:user/photo/$value': {
    targeted: true,
    before: photoWrite,
    request: (c) => upload(`/v1.0/users/${upn(c.target)}/photo/$value`)(c),
    effect: photoBecameB,
  },
  'PATCH /v1.0/users/:user/photo/$value': {
    targeted: true,
    before: photoWrite,
    request: (c) => upload(`/v1.0/users/${upn(c.target)}/photo/$value`)(c),
    effect: photoBecameB,
  },
  'DELETE /v1.0/users/:user/photo': {
    targeted: true,
    before: photoWrite,
    request: (c) => ({ url: `/v1.0/users/${upn(c.target)}/photo` }),
    effect: photoRemoved,
  },

  'GET /files': { request: () => ({ url: '/files' }) },
  'GET /sites': { request: () => ({ url: '/sites' }) },
  'GET /sites/people/:upn': { targeted: true, request: (c) => ({ url: `/sites/people/${enc(upn(c.target))}` }) },
  'GET /about/photo-sync': { request: () => ({ url: '/about/photo-sync' }) },

  'GET /_layouts/15/userphoto.aspx': {
    targeted: true,
    request: (c) => ({ url: `/_layouts/15/userphoto.aspx?size=L&accountname=${enc(upn(c.target))}` }),
  },
  'GET /User Photos/Profile Pictures/:file': {
    targeted: true,
    request: (c) => ({ url: `/User%20Photos/Profile%20Pictures/${fileStem(c.target)}_LThumb.jpg` }),
  },
  'GET /_api/sp.userprofiles.peoplemanager/getmyproperties': {
    request: () => ({ url: '/_api/SP.UserProfiles.PeopleManager/GetMyProperties', headers: { accept: 'application/json' } }),
  },
  'GET /_api/sp.userprofiles.peoplemanager/getpropertiesfor:argument': {
    targeted: true,
    request: (c) => ({
      url: `/_api/SP.UserProfiles.PeopleManager/GetPropertiesFor(accountName=@v)?@v=${accountName(c.target)}`,
      headers: { accept: 'application/json' },
    }),
  },
  'POST /_api/sp.userprofiles.peoplemanager/setmyprofilepicture': {
    before: photoWrite,
    // As PnPjs's setMyProfilePic sends it: the raw image labelled JSON.
    request: (c) => ({
      url: '/_api/SP.UserProfiles.PeopleManager/SetMyProfilePicture',
      headers: { 'content-type': 'application/json;charset=utf-8' },
      payload: c.w.photos.b,
    }),
    effect: photoBecameB,
  },

  'GET /admin/sync': { request: () => ({ url: '/admin/sync' }) },
  'POST /admin/sync/settings': {
    async before(c) {
      const settings = await c.w.t.services.syncAdmin.getSettings(CLI_ACTOR);
      if (settings.mode !== 'user-initiated' || settings.intervalMinutes !== 60)
        await c.w.t.services.syncAdmin.changeSettings(CLI_ACTOR, { mode: 'user-initiated', intervalMinutes: 60 });
    },
    request: () => ({ url: '/admin/sync/settings', form: { mode: 'user-initiated', intervalMinutes: '61' } }),
    async effect(c, allowed) {
      assert.equal(
        (await c.w.t.services.syncAdmin.getSettings(CLI_ACTOR)).intervalMinutes,
        allowed ? 61 : 60,
        allowed ? 'the settings are saved' : 'the settings are unchanged',
      );
    },
    async after(c) {
      if ((await c.w.t.services.syncAdmin.getSettings(CLI_ACTOR)).intervalMinutes !== 60)
        await c.w.t.services.syncAdmin.changeSettings(CLI_ACTOR, { mode: 'user-initiated', intervalMinutes: 60 });
    },
  },
  'POST /admin/sync/runs': {
    async before(c) {
      c.memo.runs = (await c.w.t.services.syncAdmin.listRuns(CLI_ACTOR)).length;
    },
    request: () => ({ url: '/admin/sync/runs', form: { scope: 'stale' } }),
    settle: awaitStartedRun,
    async effect(c, allowed) {
      assert.equal(
        (await c.w.t.services.syncAdmin.listRuns(CLI_ACTOR)).length,
        (c.memo.runs as number) + (allowed ? 1 : 0),
        allowed ? 'a run started' : 'no run started',
      );
    },
  },
  'GET /admin/sync/people/:upn': { targeted: true, request: (c) => ({ url: `/admin/sync/people/${enc(upn(c.target))}` }) },
  'POST /admin/sync/people/:upn': {
    targeted: true,
    async before(c) {
      c.memo.history = (await c.w.t.services.sync.getSyncHistory(c.target, 100_000)).length;
    },
    request: (c) => ({ url: `/admin/sync/people/${enc(upn(c.target))}`, form: {} }),
    async effect(c, allowed) {
      const runs = (await c.w.t.services.sync.getSyncHistory(c.target, 100_000)).length;
      assert.equal(runs, (c.memo.history as number) + (allowed ? 1 : 0), allowed ? 'a sync ran' : 'no sync ran');
    },
  },
  'GET /admin/import': { request: () => ({ url: '/admin/import' }) },
  'POST /admin/import': {
    before: (c) => c.w.ensurePhoto(c.w.people.grace, 'a'),
    request: (c) => ({
      url: '/admin/import',
      multipart: { file: { name: 'photos', filename: `${upn(c.w.people.grace)}.jpg`, type: 'image/jpeg', bytes: c.w.photos.b } },
    }),
    settle: awaitStartedRun,
    async effect(c, allowed) {
      assert.equal(
        await c.w.currentEtag(c.w.people.grace),
        allowed ? c.w.photos.etagB : c.w.photos.etagA,
        allowed ? 'the photo is imported' : 'nothing is imported',
      );
    },
  },
  'GET /admin/audit': { request: () => ({ url: '/admin/audit' }) },
  'GET /admin/directory': { request: () => ({ url: '/admin/directory' }) },
  'POST /admin/directory/photo-policy': {
    async before(c) {
      const current = await c.w.t.services.directoryPhotos.policy('oidc');
      c.memo.before = current;
      c.memo.chosen = current === 'never' ? 'fill-when-empty' : 'never';
    },
    request: (c) => ({ url: '/admin/directory/photo-policy', form: { source: 'oidc', policy: c.memo.chosen as string } }),
    async effect(c, allowed) {
      c.w.t.services.directoryPhotos.forgetCached();
      assert.equal(
        await c.w.t.services.directoryPhotos.policy('oidc'),
        allowed ? c.memo.chosen : c.memo.before,
        allowed ? 'the policy is saved' : 'the policy is unchanged',
      );
    },
  },
  'POST /admin/directory/sync': {
    async before(c) {
      c.memo.runs = (await c.w.t.services.directorySync.listRuns(CLI_ACTOR, 1000)).length;
    },
    request: () => ({ url: '/admin/directory/sync', form: { mode: 'sync' } }),
    settle: awaitStartedRun,
    async effect(c, allowed) {
      // The world's directory cannot be reached: the run is recorded (failed) all the same.
      assert.equal(
        (await c.w.t.services.directorySync.listRuns(CLI_ACTOR, 1000)).length,
        (c.memo.runs as number) + (allowed ? 1 : 0),
        allowed ? 'a directory sync ran' : 'no directory sync ran',
      );
    },
  },
  'GET /admin/runs/:id': { request: (c) => ({ url: `/admin/runs/${c.w.runId}` }) },
  'GET /admin/runs/:id/events': { request: (c) => ({ url: `/admin/runs/${c.w.runId}/events` }) },
  'POST /admin/runs/:id/cancel': { request: (c) => ({ url: `/admin/runs/${c.w.runId}/cancel`, form: {} }) },

  'GET /admin/people': { request: () => ({ url: '/admin/people' }) },
  'POST /admin/people': {
    before(c) {
      c.memo.upn = `added-${randomUUID()}@contoso.example`;
      return Promise.resolve();
    },
    request: (c) => ({
      url: '/admin/people',
      form: { userPrincipalName: c.memo.upn as string, passwordChoice: 'password', password: NEW_PASSWORD },
    }),
    async effect(c, allowed) {
      assert.equal(
        Boolean(await c.w.t.services.directory.findByUpnOrMail(c.memo.upn as string, { fresh: true })),
        allowed,
        allowed ? 'the person is added' : 'nobody is added',
      );
    },
  },
  'POST /admin/people/settings': {
    before: (c) => c.w.t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'keep'),
    request: () => ({ url: '/admin/people/settings', form: { disabledMailPhoto: 'remove' } }),
    async effect(c, allowed) {
      assert.equal(await c.w.t.services.people.disabledMailPhoto(CLI_ACTOR), allowed ? 'remove' : 'keep');
    },
    after: (c) => c.w.t.services.people.setDisabledMailPhoto(CLI_ACTOR, 'keep'),
  },
  'GET /admin/people/:upn': { targeted: true, request: (c) => ({ url: `/admin/people/${enc(upn(c.target))}` }) },
  'POST /admin/people/:upn/disable': {
    targeted: true,
    before: ensureScratchPerson,
    request: (c) => ({ url: `/admin/people/${enc(lifecycleTarget(c))}/disable`, form: { reason: 'access-rule test' } }),
    async effect(c, allowed) {
      assert.equal((await lifecyclePerson(c))?.enabled, !(allowed && !isOwn(c)), allowed ? 'disabled' : 'still enabled');
    },
    after: (c) => c.w.t.services.people.enable(CLI_ACTOR, c.memo.person as Person),
  },
  'POST /admin/people/:upn/enable': {
    targeted: true,
    async before(c) {
      await ensureScratchPerson(c);
      if (!isOwn(c)) await c.w.t.services.people.disable(CLI_ACTOR, c.memo.person as Person);
    },
    request: (c) => ({ url: `/admin/people/${enc(lifecycleTarget(c))}/enable`, form: {} }),
    async effect(c, allowed) {
      assert.equal((await lifecyclePerson(c))?.enabled, allowed || isOwn(c), allowed ? 'enabled' : 'still disabled');
    },
    after: (c) => c.w.t.services.people.enable(CLI_ACTOR, c.memo.person as Person),
  },
  'POST /admin/people/:upn/role': {
    targeted: true,
    before: ensureScratchPerson,
    request: (c) => ({ url: `/admin/people/${enc(lifecycleTarget(c))}/role`, form: { role: 'admin' } }),
    async effect(c, allowed) {
      const before = (c.memo.person as Person).role;
      assert.equal((await lifecyclePerson(c))?.role, allowed ? 'admin' : before);
    },
    async after(c) {
      if (!isOwn(c)) await c.w.t.services.people.setRole(CLI_ACTOR, c.memo.person as Person, 'user');
    },
  },
  'POST /admin/people/:upn/password': {
    targeted: true,
    async before(c) {
      await ensureScratchPerson(c);
      c.memo.hash = await c.w.t.services.directory.findPasswordHash((c.memo.person as Person).id);
    },
    request: (c) => ({ url: `/admin/people/${enc(lifecycleTarget(c))}/password`, form: {} }),
    async effect(c, allowed) {
      const changed = (await c.w.t.services.directory.findPasswordHash((c.memo.person as Person).id)) !== c.memo.hash;
      assert.equal(changed, allowed && !isOwn(c), allowed ? 'a one-time password is set' : 'the password is unchanged');
    },
  },
  'GET /admin/people/:upn/remove': {
    targeted: true,
    before: ensureScratchPerson,
    request: (c) => ({ url: `/admin/people/${enc(lifecycleTarget(c))}/remove` }),
  },
  'POST /admin/people/:upn/remove': {
    targeted: true,
    before: ensureScratchPerson,
    request: (c) => ({ url: `/admin/people/${enc(lifecycleTarget(c))}/remove`, form: {} }),
    async effect(c, allowed) {
      assert.equal(Boolean(await lifecyclePerson(c)), !(allowed && !isOwn(c)), allowed ? 'removed' : 'still there');
    },
  },
};

// ---------------------------------------------------------------------------------------------
// The table, expanded: HEAD rows generated from GET rows, targets split into cells.

interface Rule {
  /** e.g. `GET /v1.0/users/:user/photo` */
  caseKey: string;
  /** The registered route it covers (a case may add a variant word after it) */
  route: string;
  method: string;
  url: string;
  target: Exclude<Target, 'own+other'>;
  expected: Record<ActorName, string>;
  spec: CaseSpec;
}

function parseCaseKey(caseKey: string) {
  // Patterns may hold a space ("/User Photos/Profile Pictures/:file"); a variant is a last word without a slash.
  const method = caseKey.slice(0, caseKey.indexOf(' '));
  const rest = caseKey.slice(method.length + 1);
  const last = rest.lastIndexOf(' ');
  const variant = last > 0 && !rest.slice(last + 1).includes('/') ? rest.slice(last + 1) : undefined;
  const url = variant ? rest.slice(0, last) : rest;
  return { method, url, route: `${method} ${url}` };
}

function expandRows(rows: Row[]): Rule[] {
  const rules: Rule[] = [];
  for (const [caseKey, target, ...outcomes] of rows) {
    const spec = CASES[caseKey];
    if (!spec) throw new Error(`no request is written for the table's case "${caseKey}"`);
    const { method, url, route } = parseCaseKey(caseKey);
    const expected = Object.fromEntries(ACTORS.map((actor, i) => [actor, outcomes[i]!])) as Record<ActorName, string>;
    for (const one of target === 'own+other' ? (['own', 'other'] as const) : [target]) {
      rules.push({ caseKey, route, method, url, target: one, expected, spec });
    }
  }
  return rules;
}

function withHeadRules(rules: Rule[], registered: readonly { method: string; url: string }[]): Rule[] {
  const all = [...rules];
  for (const { method, url } of registered) {
    if (method !== 'HEAD' || rules.some((r) => r.route === `HEAD ${url}`)) continue;
    for (const get of rules.filter((r) => r.route === `GET ${url}`)) {
      all.push({ ...get, caseKey: get.caseKey.replace(/^GET /, 'HEAD '), route: `HEAD ${url}`, method: 'HEAD' });
    }
  }
  return all;
}

const BASE_RULES = expandRows(TABLE);
/**
 * Refused: an error status, or sent to sign in (SIGNIN; sign-out's own `303 → /signin` is its
 * success), or sent to change a one-time password first (PASSWORD_FIRST, not CHOOSE_PASSWORD).
 */
const isRefusal = (expected: string) => /^(401|403|404)/.test(expected) || expected === SIGNIN || expected === PASSWORD_FIRST;

function cellFor(w: World, rule: Rule, actor: ActorName): Cell {
  const { self, other } = w.actors[actor];
  return { w, actor, self, target: rule.target === 'other' ? other : self, memo: {} };
}

async function runCell(w: World, rule: Rule, actor: ActorName): Promise<void> {
  const cell = cellFor(w, rule, actor);
  const expected = rule.expected[actor];
  await rule.spec.before?.(cell);
  const request = rule.spec.request(cell);
  const problems: string[] = [];
  let response: LightMyRequestResponse | undefined;
  try {
    response = await w.send(actor, rule.method, request);
    await rule.spec.settle?.(cell, response);
    problems.push(...outcomeProblems(response, expected, rule.method));
    if (rule.spec.effect) {
      await rule.spec
        .effect(cell, !isRefusal(expected), response)
        .catch((error: Error) => problems.push(`effect: ${error.message.split('\n')[0]}`));
    }
  } finally {
    await rule.spec.after?.(cell);
    if (rule.spec.touchesSessions) await w.ensureSessions();
  }
  assert.deepEqual(
    problems,
    [],
    `${rule.method} ${request.url} as ${actor} (target ${rule.target}): expected ${expected}, got ${response ? describeResponse(response) : 'no response'}`,
  );
}

// ---------------------------------------------------------------------------------------------

for (const { kind, skip } of DATABASE_KINDS) {
  describe(`access rules on ${kind}`, { skip }, () => {
    let w: World;
    before(async () => {
      w = await createAccessWorld(kind);
    });
    after(() => w?.close());

    test('every registered route has a rule, and every rule a registered route', (t) => {
      const registered = registeredRoutes(w.t.app);
      assert.ok(registered.length > 50, 'registeredRoutes(app) lists the routes');
      const rules = withHeadRules(BASE_RULES, registered);
      const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;
      const registeredKeys = new Set(registered.map(key));
      const missing = [...registeredKeys].filter((route) => !rules.some((r) => r.route === route));
      assert.deepEqual(missing, [], 'routes without a row in the access-rule table (add one with the expected outcome per actor)');
      const stale = [...new Set(rules.map((r) => r.route))].filter((route) => !registeredKeys.has(route));
      assert.deepEqual(stale, [], 'rows for routes the server no longer registers');
      const unused = Object.keys(CASES).filter((caseKey) => !TABLE.some((row) => row[0] === caseKey));
      assert.deepEqual(unused, [], 'requests written for cases the table does not have');

      // A route that names a person is checked with the actor's own UPN and with someone else's.
      for (const rule of rules) {
        const namesPerson = /:user|:upn|Profile Pictures\/:file|userphoto\.aspx|getpropertiesfor/i.test(rule.caseKey);
        assert.equal(
          Boolean(rule.spec.targeted),
          namesPerson,
          `${rule.caseKey}: a person in the request must be targeted (own/other), nothing else`,
        );
        if (rule.spec.targeted) {
          const targets = rules
            .filter((r) => r.caseKey === rule.caseKey)
            .map((r) => r.target)
            .sort();
          assert.deepEqual(targets, ['other', 'own'], `${rule.caseKey} has exactly one own and one other row`);
        } else {
          assert.equal(rule.target, 'none', `${rule.caseKey} names nobody: target none`);
        }
      }
      const routes = new Set(rules.map((r) => r.route)).size;
      const heads = rules.filter((r) => r.method === 'HEAD').length;
      t.diagnostic(
        `access table on ${kind}: ${routes} routes as ${rules.length} route×target rules (${heads} of them HEAD) × ${ACTORS.length} actors = ${rules.length * ACTORS.length} cells`,
      );
    });

    test("every route declares its input in a TypeBox schema: path parameters, the body it takes, and an API's replies", () => {
      const problems = registeredRoutes(w.t.app)
        .filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs'))
        .flatMap((r) => {
          const schema = r.schema ?? {};
          const missing = [
            /[:*]/.test(r.url) && !schema.params && 'its path parameters',
            ['POST', 'PUT', 'PATCH'].includes(r.method) && !schema.body && 'its body',
            !schema.hide && !schema.response && 'its replies (it is in /docs)',
          ].filter(Boolean);
          return missing.map((what) => `${r.method} ${r.url} does not declare ${what}`);
        });
      assert.deepEqual(problems, []);
    });

    // The table: one test per cell, grouped by case.
    for (const caseKey of [...new Set(BASE_RULES.map((r) => r.caseKey))]) {
      describe(caseKey, () => {
        for (const method of caseKey.startsWith('GET ') ? ['GET', 'HEAD'] : [parseCaseKey(caseKey).method]) {
          for (const base of BASE_RULES.filter((r) => r.caseKey === caseKey)) {
            for (const actor of ACTORS) {
              test(`${method === 'HEAD' ? 'HEAD (same as GET) · ' : ''}${base.target} · ${actor} → ${base.expected[actor]}`, async (t) => {
                // A HEAD cell runs when the server registers HEAD for the pattern (fastify does for every GET).
                const rule = method === 'HEAD' ? withHeadRules([base], registeredRoutes(w.t.app)).find((r) => r.method === 'HEAD') : base;
                if (!rule) return t.skip(`no HEAD route is registered for ${base.url}`);
                await runCell(w, rule, actor);
              });
            }
          }
        }
      });
    }

    test('every form refuses a request without its CSRF token, from an admin with a valid session and from anyone', async () => {
      const registered = registeredRoutes(w.t.app);
      const forms = [
        ...new Set(
          registered
            .filter((r) => !['GET', 'HEAD'].includes(r.method) && !/^\/(v1\.0|_api)\//.test(r.url))
            .map((r) => `${r.method} ${r.url}`),
        ),
      ].sort();
      assert.deepEqual(
        forms,
        [...CSRF_FORMS].sort(),
        'the state-changing routes outside the APIs are exactly the CSRF-checked forms listed here',
      );
      const failures: string[] = [];
      for (const [route, actor] of forms.flatMap(
        (f) =>
          [
            [f, 'admin'],
            [f, 'anonymous'],
          ] as const,
      )) {
        const rule = BASE_RULES.find((r) => r.route === route && r.target !== 'own')!;
        const cell = cellFor(w, rule, actor);
        await rule.spec.before?.(cell);
        const request = rule.spec.request(cell);
        assert.ok(request.form || request.multipart, `${route} is sent as a form`);
        // A file name nobody else uses, to find what a refused upload left on disk.
        const probe = `csrf-probe-${randomUUID()}.jpg`;
        if (request.url === '/admin/import' && request.multipart?.file) request.multipart.file.filename = probe;
        try {
          // The admin sends the CSRF cookie but no token; anonymous sends neither.
          const response = await w.send(actor, rule.method, request, { csrf: false, csrfCookie: actor === 'admin' });
          // A form turns away anyone not signed in before it reads a byte of its body (and so before the
          // CSRF token in it), with the table's answer for them; sign-in and sign-out take anyone.
          const refusedEarly = actor === 'anonymous' && isRefusal(rule.expected.anonymous);
          const problems = outcomeProblems(response, refusedEarly ? rule.expected.anonymous : '403 html', rule.method);
          if (!refusedEarly && !/reload the page/.test(response.body)) problems.push('no "reload the page" message');
          await rule.spec.effect?.(cell, false, response).catch((error: Error) => problems.push(`effect: ${error.message.split('\n')[0]}`));
          const left = request.url === '/admin/import' ? removeLeftoverUploads(probe) : [];
          if (left.length) problems.push(`the refused upload was left on disk (${left.join(', ')}) and nothing ever removes it`);
          if (problems.length)
            failures.push(
              `${route} (${request.url}) without _csrf as ${actor}: expected 403 html and no change, got ${describeResponse(response)}: ${problems.join('; ')}`,
            );
        } finally {
          await rule.spec.after?.(cell);
          if (rule.spec.touchesSessions) await w.ensureSessions();
        }
      }
      assert.deepEqual(failures, []);
    });

    test('every route that takes a body answers a refusal before reading it: the answer arrives while most of the body is unsent', async () => {
      // The refusals of the table need no body (who is asking, what they name, a header): over a real
      // socket, each request declares 4 MB more body than it has and sends only the first half of it.
      const bodyRoutes = [
        ...new Set(
          registeredRoutes(w.t.app)
            .filter((r) => !['GET', 'HEAD'].includes(r.method))
            .map((r) => `${r.method} ${r.url}`),
        ),
      ];
      const cells = BASE_RULES.filter((rule) => bodyRoutes.includes(rule.route)).flatMap((rule) =>
        ACTORS.filter((actor) => isRefusal(rule.expected[actor])).map((actor) => ({ rule, actor })),
      );
      const refused = new Set(cells.map((c) => c.rule.route));
      // Sign-in and sign-out refuse nobody; every other route that takes a body has refusals to check.
      assert.deepEqual(bodyRoutes.filter((route) => !refused.has(route)).sort(), ['POST /signin', 'POST /signout']);
      const failures: string[] = [];
      await Promise.all(
        cells.map(async ({ rule, actor }) => {
          const request = rule.spec.request(cellFor(w, rule, actor));
          const response = await w.sendWithheldBody(actor, rule.method, request, { extraBytes: 4_000_000, waitMs: 5000 });
          const expected = rule.expected[actor];
          if (!response)
            failures.push(
              `${rule.method} ${request.url} as ${actor}: no answer while the body was unsent (the server waits for a body it does not need), expected ${expected}`,
            );
          else {
            const problems = outcomeProblems(response, expected, rule.method);
            if (problems.length)
              failures.push(
                `${rule.method} ${request.url} as ${actor}: expected ${expected} before the body, got ${describeResponse(response)}: ${problems.join('; ')}`,
              );
          }
        }),
      );
      assert.ok(cells.length >= 50, `the refusals of every route that takes a body (${cells.length})`);
      assert.deepEqual(failures.sort(), []);
    });

    test('the session id is rotated at sign-in, and a session ends at sign-out', async () => {
      // CSRF tokens are bound to the session cookie: each comes from a page shown with that cookie.
      const csrfTokenFor = (sessionCookie: string) => w.csrf.tokenFor(/photosync_session=([^;]+)/.exec(sessionCookie)?.[1]);
      const signIn = async (sessionCookie: string) =>
        w.t.app.inject({
          method: 'POST',
          url: '/signin',
          headers: { cookie: [w.csrf.cookie, sessionCookie].join('; '), 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            _csrf: await csrfTokenFor(sessionCookie),
            username: upn(w.people.grace),
            password: TEST_PASSWORD,
          }).toString(),
        });
      const sessionOf = (response: LightMyRequestResponse) => /photosync_session=([^;]+)/.exec(cookiesOf(response))?.[1];
      const home = (session: string) => w.t.app.inject({ method: 'GET', url: '/', headers: { cookie: `${SESSION_COOKIE}=${session}` } });

      // A session id planted before sign-in (fixation) is not the one handed out.
      const planted = 'planted-by-someone-else-0123456789abcdef';
      const first = sessionOf(await signIn(`${SESSION_COOKIE}=${planted}`));
      assert.ok(first);
      assert.notEqual(first, planted);
      assert.equal((await home(planted)).statusCode, 303, 'the planted id opens nothing');

      // Signing in again with a live session: a new id, and the old one stops working.
      const second = sessionOf(await signIn(`${SESSION_COOKIE}=${first}`));
      assert.ok(second);
      assert.notEqual(second, first, 'the cookie after sign-in differs from the one before');
      assert.equal((await home(first)).statusCode, 303, 'the session from before the sign-in no longer works');
      assert.equal((await home(second)).statusCode, 200);

      // After sign-out the old cookie opens neither the pages nor the API.
      const out = await w.t.app.inject({
        method: 'POST',
        url: '/signout',
        headers: { cookie: [w.csrf.cookie, `${SESSION_COOKIE}=${second}`].join('; '), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: await csrfTokenFor(`${SESSION_COOKIE}=${second}`) }).toString(),
      });
      assert.equal(out.statusCode, 303);
      assert.equal((await home(second)).statusCode, 303, 'the signed-out session no longer opens the portal');
      const api = await w.t.app.inject({ method: 'GET', url: '/v1.0/me/photo', headers: { cookie: `${SESSION_COOKIE}=${second}` } });
      assert.equal(api.statusCode, 401, 'nor the API');
    });

    test('sign-in does not tell who exists: a wrong password and an unknown user get the same answer', async () => {
      const attempt = async (username: string, password: string) => {
        const form = await w.t.app.inject({ method: 'GET', url: '/signin' });
        const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
        const response = await w.t.app.inject({
          method: 'POST',
          url: '/signin',
          headers: { cookie: cookiesOf(form), 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ _csrf: token, username, password }).toString(),
        });
        // The page echoes the name typed and carries a fresh CSRF token; everything else must be the same.
        const page = response.body.replaceAll(username, '{name}').replace(/name="_csrf" value="[^"]+"/g, '_csrf');
        return { response, page, message: /role="alert">([^<]+)</.exec(response.body)?.[1] };
      };
      const wrongPassword = await attempt(upn(w.people.ada), 'not the password at all');
      const unknownUser = await attempt('nobody.here@contoso.example', 'not the password at all');
      const unknownWithRealPassword = await attempt('nobody.else@contoso.example', TEST_PASSWORD);
      for (const answer of [wrongPassword, unknownUser, unknownWithRealPassword]) {
        assert.equal(answer.response.statusCode, 401);
        assert.equal(answer.message, SIGN_IN_FAILED);
        assert.equal(answer.response.headers['set-cookie']?.toString().includes(SESSION_COOKIE) ?? false, false, 'no session');
      }
      assert.equal(unknownUser.page, wrongPassword.page, 'the same page for an unknown user and a wrong password');
      assert.equal(unknownWithRealPassword.page, wrongPassword.page);
    });

    test('every page carries the security headers: CSP without inline script, frame-ancestors, nosniff, Referrer-Policy', async () => {
      // Each page as every actor it answers with HTML: the page itself and its refusals.
      const findings = new Map<string, Set<string>>();
      const check = (label: string, actor: string, problems: string[]) => {
        if (!problems.length) return;
        const key = `${label}: ${problems.join('; ')}`;
        findings.set(key, (findings.get(key) ?? new Set()).add(actor));
      };
      const rules = withHeadRules(BASE_RULES, registeredRoutes(w.t.app)).filter((r) => r.method === 'GET' || r.caseKey.startsWith('HEAD '));
      let pages = 0;
      for (const rule of rules) {
        const actors = ACTORS.filter((a) => /html$/.test(rule.expected[a]));
        if (actors.some((a) => rule.expected[a] === OK_HTML)) pages++;
        for (const actor of actors) {
          const cell = cellFor(w, rule, actor);
          await rule.spec.before?.(cell);
          const response = await w.send(actor, rule.method, rule.spec.request(cell));
          check(`${rule.method} ${rule.url} (${response.statusCode})`, actor, pageHeaderProblems(response, rule.method));
        }
      }
      assert.ok(pages >= 20, `the page routes were found (${pages})`);
      // And the error page of a page route: a person who does not exist.
      const notFound = await w.send('person', 'GET', { url: '/sites/people/nobody%40contoso.example' });
      assert.equal(notFound.statusCode, 404);
      check('GET /sites/people/:upn (404)', 'person', pageHeaderProblems(notFound, 'GET'));
      assert.deepEqual(
        [...findings].map(([finding, actors]) => `${finding} [as ${[...actors].join(', ')}]`),
        [],
      );
    });

    test('every image is served with an exact image Content-Type and nosniff, photo or placeholder', async () => {
      const failures: string[] = [];
      const imageRules = BASE_RULES.filter((r) => r.expected.person === OK_IMG);
      assert.ok(imageRules.length >= 8, 'the Graph $value routes, userphoto.aspx and the profile picture files');
      for (const placeholder of [false, true]) {
        for (const rule of imageRules) {
          const cell = cellFor(w, rule, 'person');
          await rule.spec.before?.(cell);
          // The Sites photo of someone who never synced is the placeholder.
          const sitesOnly = !rule.url.startsWith('/v1.0');
          if (placeholder && !sitesOnly) continue;
          const request = rule.spec.request(cell);
          if (placeholder) {
            const fresh = await w.t.addPerson(`placeholder-${randomUUID().slice(0, 8)}@contoso.example`);
            request.url = request.url.replace(enc(upn(cell.target)), enc(upn(fresh))).replace(fileStem(cell.target), fileStem(fresh));
          }
          const response = await w.send('person', 'GET', request);
          const problems = response.statusCode === 200 ? imageHeaderProblems(response, 'GET') : [`status ${response.statusCode}`];
          if (problems.length) failures.push(`GET ${request.url}${placeholder ? ' (placeholder)' : ''}: ${problems.join('; ')}`);
        }
      }
      assert.deepEqual(failures, []);
    });
  });
}

describe('sign-in is rate limited per client address', () => {
  for (const { kind, skip } of DATABASE_KINDS) {
    test(`on ${kind}: the 4th attempt in a minute gets 429 with Retry-After, whatever the password`, { skip }, async () => {
      const t = await startTestApp(kind, { SIGNIN_ATTEMPTS_PER_MINUTE: '3' });
      try {
        await t.addPerson('ada@contoso.example');
        const form = await t.app.inject({ method: 'GET', url: '/signin' });
        const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
        const attempt = (username: string, password: string, remoteAddress = '127.0.0.1') =>
          t.app.inject({
            method: 'POST',
            url: '/signin',
            remoteAddress,
            headers: { cookie: cookiesOf(form), 'content-type': 'application/x-www-form-urlencoded' },
            payload: new URLSearchParams({ _csrf: token, username, password }).toString(),
          });
        assert.equal((await attempt('ada@contoso.example', 'wrong password!!')).statusCode, 401);
        assert.equal((await attempt('nobody@contoso.example', 'wrong password!!')).statusCode, 401);
        assert.equal((await attempt('ada@contoso.example', TEST_PASSWORD)).statusCode, 303);
        const limited = await attempt('ada@contoso.example', TEST_PASSWORD);
        assert.equal(limited.statusCode, 429, 'the 4th attempt is refused even with the right password');
        assert.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After');
        assert.match(limited.body, /Too many sign-in attempts/);
        assert.equal(cookiesOf(limited).includes(SESSION_COOKIE), false, 'and no session');
        assert.equal(
          (await attempt('ada@contoso.example', TEST_PASSWORD, '10.0.0.2')).statusCode,
          303,
          'another client address is not limited',
        );
      } finally {
        await t.close();
      }
    });
  }
});

/**
 * Finds the files a refused import upload left in the temporary folder (the import saves uploads as
 * `<random>-<name>`), and removes them so this test leaves nothing behind itself.
 */
function removeLeftoverUploads(name: string): string[] {
  const found: string[] = [];
  for (const dir of fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('photosync-import-'))) {
    try {
      const folder = path.join(os.tmpdir(), dir);
      for (const file of fs.readdirSync(folder).filter((f) => f.endsWith(`-${name}`))) {
        found.push(path.join(folder, file));
        fs.rmSync(path.join(folder, file));
        if (fs.readdirSync(folder).length === 0) fs.rmdirSync(folder);
      }
    } catch {
      // Another import finished and removed its folder meanwhile.
    }
  }
  return found;
}
