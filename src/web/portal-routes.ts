import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError, InvalidInput, NotFound, TooManyAttempts } from '../errors.ts';
import type { IdentityService, RequestAuthentication } from '../identity/index.ts';
import { isAdmin, MIN_PASSWORD_LENGTH } from '../identity/index.ts';
import { MAIL_PHOTO_MAX_BYTES } from '../imaging/index.ts';
import type { MailPhotoService, PhotoVersion } from '../mail/index.ts';
import type { SyncMode } from '../sync/index.ts';
import { CsrfToken, Flash, httpStatusOf } from '../http/index.ts';
import { html, type SafeHtml } from './html.ts';
import { ownPhotoUrl } from './layout.ts';
import { createPageRendering, csrfToken, PAGE, refuseBeforeBody, signInPage, type PersonActor } from './page-rendering.ts';

export interface PortalOptions {
  identity: IdentityService;
  mail: MailPhotoService;
  auth: RequestAuthentication;
  /** Sign-in attempts per client address, and password changes per session, in a minute. */
  signInAttemptsPerMinute: number;
  /** The admin's sync mode: after an upload the page says when Sites will follow. */
  syncMode?: () => Promise<SyncMode>;
  /** How people sign in: the OIDC button (its label) and whether the password form is there. */
  signInMethods?: SignInMethods;
  /** After the local sign-out: where to send the browser (the provider's sign-out page), if anywhere. */
  signOutRedirect?: (request: FastifyRequest, reply: FastifyReply) => Promise<string | undefined>;
}

export interface SignInMethods {
  oidcButtonLabel: string | undefined;
  localPasswords: boolean;
}

/** When Sites takes a new Mail photo, in each sync mode. */
const SITES_FOLLOWS: Record<SyncMode, string> = {
  'user-initiated':
    'Sites shows it the next time you open Files or Sites. Within one sign-in, Sites checks only every so often; signing in again always checks at once.',
  'on-change': 'Sites shows it within seconds: your admin has turned on sync on change.',
  scheduled: 'Sites shows it at the next scheduled sync your admin has set up, or sooner when you sign in again and open Files or Sites.',
};

const Next = Type.Object({
  next: Type.Optional(Type.String({ description: 'Where to go after signing in: a path on this site (anything else goes home)' })),
});
const Done = Type.Object({ done: Flash });
const SignInForm = Type.Object({
  _csrf: CsrfToken,
  username: Type.String({ title: 'user name' }),
  password: Type.String({ title: 'password' }),
});
const EmptyForm = Type.Object({ _csrf: CsrfToken });
const PhotoForm = Type.Object({
  _csrf: CsrfToken,
  // A file part, not a text field of that name: multipart gives a file as bytes.
  photo: Type.Unsafe<Buffer>({ not: { type: 'string' }, format: 'binary', errorMessage: 'Choose a photo to upload.' }),
});
const PasswordForm = Type.Object({
  _csrf: CsrfToken,
  current: Type.String({ title: 'current password' }),
  new: Type.String({ title: 'new password' }),
  confirm: Type.String({ title: 'new password again' }),
  revokeTokens: Type.Optional(Type.Enum(['on'], { title: 'choice to revoke your API tokens' })),
});
const FLASH: Record<string, string> = {
  uploaded: 'Your photo is saved in Mail.',
  unchanged: 'That is already your photo; nothing changed.',
  removed: 'Your photo is removed from Mail.',
  password: 'Your password is changed.',
};

/** Sign-in, the home page with its tiles, the Mail photo page and the password page. */
export const registerPortalRoutes: FastifyPluginAsyncTypebox<PortalOptions> = async (app, options) => {
  const { identity, mail, auth } = options;
  const methods: SignInMethods = options.signInMethods ?? { oidcButtonLabel: undefined, localPasswords: true };

  const { signedIn, page } = createPageRendering(auth);

  app.get('/signin', { config: PAGE, schema: { hide: true, querystring: Next } }, async (request, reply) => {
    // Pages treat an invalid credential as none: the sign-in page is where it leads.
    const actor = await auth.findActor(request).catch(() => undefined);
    if (actor?.kind === 'person') return reply.redirect(safeNext(request.query.next), 303);
    return page(reply, undefined, 'Sign in', signInForm(methods, csrfToken(reply), request.query.next));
  });

  app.post(
    '/signin',
    {
      config: signInPage(options.signInAttemptsPerMinute),
      preValidation: app.csrfProtection,
      schema: { hide: true, querystring: Next, body: SignInForm },
    },
    async (request, reply) => {
      const { username: name, password } = request.body;
      try {
        const { sessionToken, person } = await identity.signIn(name, password);
        // A new session id at every sign-in; any session the browser had is ended.
        await auth.endSession(request, reply);
        auth.startSession(reply, sessionToken);
        return reply.redirect(person.mustChangePassword ? '/account/password' : safeNext(request.query.next), 303);
      } catch (error) {
        // Refused sign-ins (wrong password, disabled, password sign-in off) show on the form.
        if (!(error instanceof AppError) || ![401, 403].includes(httpStatusOf(error))) throw error;
        reply.code(httpStatusOf(error));
        return page(reply, undefined, 'Sign in', signInForm(methods, csrfToken(reply), request.query.next, error.message, name));
      }
    },
  );

  app.post(
    '/signout',
    { config: PAGE, preValidation: app.csrfProtection, schema: { hide: true, body: EmptyForm } },
    async (request, reply) => {
      // Asked before the session ends: the provider's sign-out needs what the sign-in left (the ID token).
      const providerSignOut = await options.signOutRedirect?.(request, reply);
      await auth.endSession(request, reply);
      return reply.redirect(providerSignOut ?? '/signin', 303);
    },
  );

  app.get('/', { config: PAGE, schema: { hide: true, querystring: Done } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const done = request.query.done;
    return page(
      reply,
      actor,
      'Home',
      html`<h1>Hello, ${actor.person.displayName}</h1>
        ${done && Object.hasOwn(FLASH, done) ? html`<p class="notice" role="status">${FLASH[done]}</p>` : ''}
        <ul class="tiles" aria-label="Apps">
          <li><a class="tile" href="/mail/photo"><strong>Mail</strong>Your mailbox and its profile photo: the one source every other app takes it from.</a></li>
          <li><a class="tile" href="/files"><strong>Files</strong>Your files home, headed by the photo Sites shows for you.</a></li>
          <li><a class="tile" href="/sites"><strong>Sites</strong>The people directory, with everyone's Sites photo.</a></li>
        </ul>
        <p><a href="/mail/photo">Add your profile photo</a> · <a href="/about/photo-sync">About profile photo sync</a></p>
        ${
          isAdmin(actor)
            ? html`<section aria-labelledby="admin-heading" class="card"><h2 id="admin-heading">For admins</h2>
              <p><a href="/admin/people">People</a> · <a href="/admin/sync">Sync status</a> · <a href="/admin/import">Import photos</a> · <a href="/admin/audit">Audit log</a> · <a href="/admin/directory">Directory</a> · <a href="/docs">API documentation</a></p></section>`
            : ''
        }`,
    );
  });

  const photoPage = async (
    reply: FastifyReply,
    actor: PersonActor,
    version: PhotoVersion | undefined,
    message?: { error?: string; done?: string },
  ) => {
    const sitesFollows = message?.done === 'uploaded' && options.syncMode ? SITES_FOLLOWS[await options.syncMode()] : undefined;
    // A photo the organization's directory manages: say where to change it instead of offering a form that would be refused.
    const refusal = await mail.changeRefusal(actor, actor.person);
    const heading = refusal ? 'Your profile photo' : version ? 'Change your profile photo' : 'Add your profile photo';
    return page(
      reply,
      actor,
      heading,
      html`<h1>${heading}</h1>
        <p>Your photo lives in Mail. Sites and the other apps take it from here.</p>
        ${message?.error && message.error !== refusal ? html`<p class="alert" role="alert">${message.error}</p>` : ''}
        ${message?.done && Object.hasOwn(FLASH, message.done) ? html`<p class="notice" role="status">${FLASH[message.done]}${sitesFollows ? ` ${sitesFollows}` : ''}</p>` : ''}
        <div class="photo-row">
          <figure class="card">
            ${
              version
                ? html`<img class="photo" src="/v1.0/me/photo/$value?v=${version.etag}" width="240" height="240" alt="Your current profile photo">
                  <figcaption class="hint">Stored in ${version.sizes.length} sizes, up to ${version.width}×${version.height}.</figcaption>`
                : html`<img class="photo" src="${ownPhotoUrl(actor.person, 'L')}" width="240" height="240" alt="Your initials, shown while you have no photo">
                  <figcaption class="hint">You have no photo yet. Until you add one, people see your initials.</figcaption>`
            }
          </figure>
          ${
            refusal
              ? html`<div><p class="notice" role="status">${refusal}</p></div>`
              : html`<div class="card">
            <form method="post" action="/mail/photo" enctype="multipart/form-data" id="photo-form">
              <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
              <label for="photo">Choose a photo</label>
              <input id="photo" name="photo" type="file" accept="image/jpeg,image/png" required aria-describedby="photo-hint">
              <p id="photo-hint" class="hint">JPEG or PNG, at most 4 MB, at least 48×48 pixels. Then drag and zoom to choose the square that shows.</p>
              <div id="crop" hidden>
                <div class="cropper-area" id="crop-area" tabindex="0" role="group" aria-label="Crop the photo" aria-describedby="crop-keys"><img id="crop-image" alt=""></div>
                <p id="crop-keys" class="hint">Drag to move, scroll or pinch to zoom. With the keyboard: arrow keys move, + and − zoom, R turns.</p>
                <div class="crop-tools" role="group" aria-label="Crop tools">
                  <button type="button" class="secondary" data-crop="zoom-in">Zoom in</button>
                  <button type="button" class="secondary" data-crop="zoom-out">Zoom out</button>
                  <button type="button" class="secondary" data-crop="rotate-left">Turn left</button>
                  <button type="button" class="secondary" data-crop="rotate-right">Turn right</button>
                  <button type="button" class="secondary" data-crop="reset">Start over</button>
                </div>
                <p class="hint">How it will look:</p>
                <div class="crop-preview" id="crop-preview" role="img" aria-label="Preview of the chosen photo"></div>
              </div>
              <p id="preview-note" class="hint" aria-live="polite"></p>
              <div class="actions"><button type="submit">${version ? 'Replace photo' : 'Upload photo'}</button></div>
            </form>
            ${
              version
                ? html`<details class="confirm actions">
                  <summary class="button secondary">Remove photo…</summary>
                  <form method="post" action="/mail/photo/remove" class="confirm-box">
                    <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
                    <p><strong>Remove your photo from Mail?</strong> People will see your initials instead, in Sites too once it syncs. You can add a photo again at any time.</p>
                    <button type="submit" class="danger-strong">Remove photo</button>
                  </form>
                </details>`
                : ''
            }
          </div>`
          }
        </div>`,
      ['/assets/cropper.min.js', '/assets/photo-crop.js'],
      ['/assets/cropper.min.css'],
    );
  };

  const currentVersion = (actor: PersonActor) =>
    mail.getPhoto(actor, actor.person).catch((error) => (error instanceof NotFound ? undefined : Promise.reject(error)));

  app.get('/mail/photo', { config: PAGE, schema: { hide: true, querystring: Done } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    return photoPage(reply, actor, await currentVersion(actor), { done: request.query.done });
  });

  // Multipart parsing lives in its own scope: the plugin adds hooks to every request in its scope,
  // and only this form needs them.
  await app.register(async (scope) => {
    const uploads = scope.withTypeProvider<TypeBoxTypeProvider>();
    await uploads.register(multipart, {
      attachFieldsToBody: 'keyValues',
      limits: { fileSize: MAIL_PHOTO_MAX_BYTES, files: 1, fields: 5, fieldSize: 4096 },
    });
    const uploadAccepted = refuseBeforeBody(signedIn, (actor) => mail.assertUploadAccepted(actor, actor.person));
    uploads.post(
      '/mail/photo',
      { config: PAGE, onRequest: uploadAccepted, preValidation: uploads.csrfProtection, schema: { hide: true, body: PhotoForm } },
      async (request, reply) => {
        const actor = await signedIn(request, reply);
        if (!actor) return reply;
        const file = request.body.photo;
        try {
          // A file input left empty still sends its part, with no bytes.
          if (file.length === 0) throw new InvalidInput('Choose a photo to upload.');
          const { changed } = await mail.setPhoto(actor, actor.person, file, 'page');
          return reply.redirect(`/mail/photo?done=${changed ? 'uploaded' : 'unchanged'}`, 303);
        } catch (error) {
          if (!(error instanceof AppError) || httpStatusOf(error) >= 500) throw error;
          reply.code(httpStatusOf(error));
          return photoPage(reply, actor, await currentVersion(actor), { error: error.message });
        }
      },
    );
  });

  app.post(
    '/mail/photo/remove',
    { config: PAGE, onRequest: refuseBeforeBody(signedIn), preValidation: app.csrfProtection, schema: { hide: true, body: EmptyForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      await mail.removePhoto(actor, actor.person).catch((error) => {
        if (!(error instanceof NotFound)) throw error;
      });
      return reply.redirect('/mail/photo?done=removed', 303);
    },
  );

  const passwordPage = async (reply: FastifyReply, actor: PersonActor, error?: string) => {
    const tokens = await identity.countUsableApiTokens(actor.person);
    return page(
      reply,
      actor,
      'Change your password',
      html`<h1>Change your password</h1>
        ${actor.person.mustChangePassword ? html`<p class="info" role="status">You signed in with a one-time password. Choose your own to go on.</p>` : ''}
        ${error ? html`<p class="alert" role="alert">${error}</p>` : ''}
        <form method="post" action="/account/password" class="card narrow">
          <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
          <label for="current">Current password</label>
          <input id="current" name="current" type="password" autocomplete="current-password" required>
          <label for="new">New password</label>
          <input id="new" name="new" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required aria-describedby="new-hint">
          <p id="new-hint" class="hint">At least ${MIN_PASSWORD_LENGTH} characters.</p>
          <label for="confirm">New password again</label>
          <input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
          ${
            tokens > 0
              ? html`<label class="choice"><input type="checkbox" name="revokeTokens" value="on"> Also revoke your ${tokens} API ${tokens === 1 ? 'token' : 'tokens'} (scripts using ${tokens === 1 ? 'it' : 'them'} stop working)</label>`
              : ''
          }
          <p class="hint">Your other signed-in browsers are signed out.</p>
          <div class="actions"><button type="submit">Change password</button></div>
        </form>`,
    );
  };

  app.get('/account/password', { config: PAGE, schema: { hide: true } }, async (request, reply) => {
    const actor = await signedIn(request, reply, { changingPassword: true });
    if (!actor) return reply;
    return passwordPage(reply, actor);
  });

  app.post(
    '/account/password',
    {
      config: {
        ...PAGE,
        // Each attempt checks the current password: as limited as sign-in, per session (one stolen
        // session cannot guess faster from many addresses), per address for requests without one.
        rateLimit: {
          max: options.signInAttemptsPerMinute,
          timeWindow: 60_000,
          keyGenerator: (request: FastifyRequest) => {
            const session = auth.sessionToken(request);
            return session ? `session:${createHash('sha256').update(session).digest('hex')}` : `ip:${request.ip}`;
          },
          errorResponseBuilder: (_request: FastifyRequest, context: { ttl: number }) =>
            new TooManyAttempts('Too many password changes. Wait a minute, then try again.', Math.ceil(context.ttl / 1000)),
        },
      },
      onRequest: refuseBeforeBody((request, reply) => signedIn(request, reply, { changingPassword: true })),
      preValidation: app.csrfProtection,
      schema: { hide: true, body: PasswordForm },
    },
    async (request, reply) => {
      const actor = await signedIn(request, reply, { changingPassword: true });
      if (!actor) return reply;
      try {
        const { current, new: newPassword, confirm, revokeTokens } = request.body;
        if (newPassword !== confirm) throw new InvalidInput('The two new passwords differ.');
        const changed = await identity.changePassword(actor.person, current, newPassword, {
          sessionToken: auth.sessionToken(request),
          revokeTokens: revokeTokens === 'on',
          actor,
        });
        // The session goes on under a new id: one learned before the change opens nothing after it.
        if (changed.sessionToken) auth.startSession(reply, changed.sessionToken);
        return reply.redirect('/?done=password', 303);
      } catch (error) {
        if (!(error instanceof AppError) || httpStatusOf(error) >= 500) throw error;
        reply.code(httpStatusOf(error));
        return passwordPage(reply, actor, error.message);
      }
    },
  );
};

function signInForm(methods: SignInMethods, csrfToken: string, next: string | undefined, error?: string, name?: string): SafeHtml {
  const nextQuery = next ? `?next=${encodeURIComponent(safeNext(next))}` : '';
  const button = methods.oidcButtonLabel
    ? html`<div class="card"><a class="button" href="/signin/oidc${nextQuery}">${methods.oidcButtonLabel}</a></div>`
    : '';
  if (!methods.localPasswords) {
    return html`<h1>Sign in</h1>
      ${error ? html`<p class="alert" role="alert">${error}</p>` : ''}
      ${button}`;
  }
  return html`<h1>Sign in</h1>
    ${error ? html`<p class="alert" role="alert">${error}</p>` : ''}
    ${button}
    ${methods.oidcButtonLabel ? html`<p>Or sign in with a photosync password:</p>` : ''}
    <form method="post" action="/signin${nextQuery}" class="card">
      <input type="hidden" name="_csrf" value="${csrfToken}">
      <label for="username">User name</label>
      <input id="username" name="username" type="email" autocomplete="username" value="${name ?? ''}" required autofocus>
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required>
      <div class="actions"><button type="submit">Sign in</button></div>
    </form>`;
}

/** Only a path on this site; anything else (//evil.example, https://…) goes home. */
export function safeNext(next: string | undefined): string {
  if (!next || next.length > 512 || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  // It becomes a Location header: printable ASCII only (no CR/LF, no characters a header cannot hold).
  if (!/^[\x21-\x7e]+$/.test(next)) return '/';
  return next;
}
