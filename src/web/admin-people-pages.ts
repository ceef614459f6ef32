import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static, type TSchema } from 'typebox';
import { ROLES, type DirectoryService, type Person, type PersonState, type Role } from '../directory/index.ts';
import { AppError, InvalidInput, NotFound } from '../errors.ts';
import { CsrfToken, FilterChoice, Flash, httpStatusOf, PlainText } from '../http/index.ts';
import { MIN_PASSWORD_LENGTH, type RequestAuthentication } from '../identity/index.ts';
import { DISABLED_MAIL_PHOTO_CHOICES, type DisabledMailPhoto, type PeopleLifecycle } from '../people/index.ts';
import { html } from './html.ts';
import { ownPhotoUrl } from './layout.ts';
import { createPageRendering, csrfToken, PAGE, refuseBeforeBody, type PersonActor } from './page-rendering.ts';

export interface AdminPeoplePagesOptions {
  directory: DirectoryService;
  people: PeopleLifecycle;
  auth: RequestAuthentication;
}

const PAGE_SIZE = 50;
const STATES: readonly PersonState[] = ['enabled', 'disabled'];
const CHOOSE_A_ROLE = `Choose a role: ${ROLES.join(' or ')}.`;

const PeopleQuery = Type.Object({
  q: Type.Optional(PlainText({ title: 'search', maxLength: 200 })),
  state: FilterChoice(STATES, 'state filter'),
  after: Type.Optional(PlainText({ title: 'page position', maxLength: 300 })),
  done: Flash,
});
/** A form field as a person types it (the handler trims it). */
const FormText = (title: string) => Type.Optional(PlainText({ title, maxLength: 2000 }));
const AddPersonForm = Type.Object({
  _csrf: CsrfToken,
  userPrincipalName: PlainText({ title: 'user principal name', maxLength: 2000 }),
  displayName: FormText('display name'),
  mail: FormText('mail address'),
  role: Type.Optional(Type.Enum(ROLES, { errorMessage: CHOOSE_A_ROLE })),
  passwordChoice: Type.Optional(Type.Enum(['one-time', 'password'], { title: 'password choice' })),
  password: Type.Optional(Type.String({ title: 'password', maxLength: 2000 })),
});
const SettingsForm = Type.Object({
  _csrf: CsrfToken,
  disabledMailPhoto: Type.Enum(DISABLED_MAIL_PHOTO_CHOICES, {
    errorMessage: `Choose what happens to a disabled person's Mail photo: ${DISABLED_MAIL_PHOTO_CHOICES.join(' or ')}.`,
  }),
});
const EmptyForm = Type.Object({ _csrf: CsrfToken });
const DisableForm = Type.Object({ _csrf: CsrfToken, reason: FormText('reason') });
const RoleForm = Type.Object({ _csrf: CsrfToken, role: Type.Enum(ROLES, { errorMessage: CHOOSE_A_ROLE }) });
const PersonParams = Type.Object({ upn: Type.String({ description: "The person's user principal name" }) });
const PersonQuery = Type.Object({ done: Flash });
const STATE_WORDS: Record<PersonState, string> = { enabled: 'Enabled', disabled: 'Disabled' };
const ROLE_WORDS: Record<Role, string> = { admin: 'Admin', user: 'User' };
const MAIL_PHOTO_WORDS: Record<DisabledMailPhoto, string> = {
  keep: 'Keep it (Mail keeps serving it; Sites shows their initials while they are disabled)',
  remove: 'Remove it from Mail (enabling them again does not bring it back)',
};
const FLASH: Record<string, string> = {
  added: 'The person is added.',
  settings: 'The setting is saved.',
  removed: 'The person is removed.',
  disabled: 'The person is disabled: they cannot sign in, and their sessions and tokens no longer work.',
  enabled: 'The person is enabled: they can sign in again.',
  role: 'The role is changed.',
};

/** The admin's People page: search, add, disable and enable, reset a password, remove, and the disabled-person setting. */
export const registerAdminPeoplePages: FastifyPluginAsyncTypebox<AdminPeoplePagesOptions> = async (app, options) => {
  const { directory, people, auth } = options;
  const { signedIn, page } = createPageRendering(auth);
  const personUrl = (person: Person) => `/admin/people/${encodeURIComponent(person.userPrincipalName)}`;

  const listPage = async (
    reply: FastifyReply,
    actor: PersonActor,
    query: Static<typeof PeopleQuery>,
    problem?: { error: string; form: Static<typeof AddPersonForm> },
  ) => {
    const search = query.q?.trim() || undefined;
    const state = query.state || undefined;
    const after = query.after?.trim().toLowerCase() || undefined;
    const [rows, mailPhoto] = await Promise.all([
      people.search(actor, { search, state, after, limit: PAGE_SIZE + 1 }),
      people.disabledMailPhoto(actor),
    ]);
    const more = rows.length > PAGE_SIZE;
    const shown = rows.slice(0, PAGE_SIZE);
    const link = (params: Record<string, string | undefined>) => {
      const search = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
      return `/admin/people${search.size ? `?${search}` : ''}`;
    };
    const done = query.done && Object.hasOwn(FLASH, query.done) ? FLASH[query.done] : undefined;
    const token = csrfToken(reply);
    const form = problem?.form;
    const value = (name: 'userPrincipalName' | 'displayName' | 'mail' | 'role' | 'passwordChoice') => form?.[name] ?? '';
    return page(
      reply,
      actor,
      'People',
      html`<h1>People</h1>
        ${done ? html`<p class="notice" role="status">${done}</p>` : ''}
        ${problem ? html`<p class="alert" role="alert">${problem.error}</p>` : ''}
        <form method="get" action="/admin/people" class="search" role="search">
          <label for="q">Search by name, user principal name or mail</label>
          <input id="q" name="q" type="text" value="${search ?? ''}">
          <label for="state">State</label>
          <select id="state" name="state">
            <option value="">Any</option>
            ${STATES.map((s) => html`<option value="${s}" ${state === s ? 'selected' : ''}>${STATE_WORDS[s]}</option>`)}
          </select>
          <div class="actions"><button type="submit" class="secondary">Search</button></div>
        </form>
        <table class="status stack">
          <thead><tr><th scope="col">Person</th><th scope="col">Mail</th><th scope="col">Role</th><th scope="col">State</th></tr></thead>
          <tbody>
            ${shown.map(
              (person) => html`<tr>
                <td data-label="Person"><div><a href="${personUrl(person)}">${person.displayName}</a><br><span class="hint">${person.userPrincipalName}</span></div></td>
                <td data-label="Mail">${person.mail ?? '-'}</td>
                <td data-label="Role">${ROLE_WORDS[person.role]}</td>
                <td data-label="State">${person.enabled ? STATE_WORDS.enabled : html`<strong>${STATE_WORDS.disabled}</strong>`}</td>
              </tr>`,
            )}
          </tbody>
        </table>
        ${shown.length === 0 ? html`<p>Nobody matches.</p>` : ''}
        <nav class="actions" aria-label="Pages">
          ${after ? html`<a href="${link({ q: search, state })}">First page</a>` : ''}
          ${more ? html`<a href="${link({ q: search, state, after: shown.at(-1)!.userPrincipalName.toLowerCase() })}" rel="next">Next page</a>` : ''}
        </nav>
        <div class="photo-row">
          <form method="post" action="/admin/people" class="card">
            <h2>Add a person</h2>
            <input type="hidden" name="_csrf" value="${token}">
            <label for="upn">User principal name</label>
            <input id="upn" name="userPrincipalName" type="text" required value="${value('userPrincipalName')}" aria-describedby="upn-hint">
            <p id="upn-hint" class="hint">Like name@example.com; it is also their user name for signing in.</p>
            <label for="displayName">Display name</label>
            <input id="displayName" name="displayName" type="text" value="${value('displayName')}" aria-describedby="name-hint">
            <p id="name-hint" class="hint">Leave empty to make one from the user principal name.</p>
            <label for="mail">Mail address</label>
            <input id="mail" name="mail" type="email" value="${value('mail')}">
            <label for="role">Role</label>
            <select id="role" name="role">${ROLES.map((r) => html`<option value="${r}" ${(value('role') || 'user') === r ? 'selected' : ''}>${ROLE_WORDS[r]}</option>`)}</select>
            <fieldset><legend>Password</legend>
              <label class="choice"><input type="radio" name="passwordChoice" value="one-time" ${value('passwordChoice') !== 'password' ? 'checked' : ''}> A one-time password, shown once, that they change at first sign-in</label>
              <label class="choice"><input type="radio" name="passwordChoice" value="password" ${value('passwordChoice') === 'password' ? 'checked' : ''}> This password:</label>
              <label for="password" class="visually-hidden">Password for the new person</label>
              <input id="password" name="password" type="password" autocomplete="new-password" aria-describedby="password-hint">
              <p id="password-hint" class="hint">At least ${MIN_PASSWORD_LENGTH} characters.</p>
            </fieldset>
            <div class="actions"><button type="submit">Add person</button></div>
          </form>
          <form method="post" action="/admin/people/settings" class="card">
            <h2>When a person is disabled</h2>
            <input type="hidden" name="_csrf" value="${token}">
            <fieldset><legend>Their Mail photo</legend>
              ${(Object.keys(MAIL_PHOTO_WORDS) as DisabledMailPhoto[]).map(
                (choice) =>
                  html`<label class="choice"><input type="radio" name="disabledMailPhoto" value="${choice}" ${mailPhoto === choice ? 'checked' : ''}> ${MAIL_PHOTO_WORDS[choice]}</label>`,
              )}
            </fieldset>
            <p class="hint">Whatever you choose, they cannot sign in, their sessions and API tokens stop working at once, and Sites shows their initials.</p>
            <div class="actions"><button type="submit">Save setting</button></div>
          </form>
        </div>`,
    );
  };

  const oneTimePasswordPage = (reply: FastifyReply, actor: PersonActor, person: Person, oneTimePassword: string, heading: string) =>
    page(
      reply.header('cache-control', 'no-store'),
      actor,
      heading,
      html`<h1>${heading}</h1>
        <section class="card">
          <p>Give ${person.displayName} (<strong>${person.userPrincipalName}</strong>) this one-time password. It is shown only this once.</p>
          <p><code class="secret">${oneTimePassword}</code></p>
          <p class="hint">They sign in with it and must then choose their own password before they can do anything else.</p>
        </section>
        <p><a href="${personUrl(person)}">${person.displayName}</a> · <a href="/admin/people">All people</a></p>`,
    );

  const personPage = (reply: FastifyReply, actor: PersonActor, person: Person, message: { done?: string | undefined; error?: string }) => {
    const token = csrfToken(reply);
    const url = personUrl(person);
    const done = message.done && Object.hasOwn(FLASH, message.done) ? FLASH[message.done] : undefined;
    return page(
      reply,
      actor,
      person.displayName,
      html`<h1>${person.displayName}</h1>
        ${done ? html`<p class="notice" role="status">${done}</p>` : ''}
        ${message.error ? html`<p class="alert" role="alert">${message.error}</p>` : ''}
        <section class="card" aria-labelledby="details-heading">
          <h2 id="details-heading">Details</h2>
          <img class="photo" src="${ownPhotoUrl(person, 'M')}" width="72" height="72" alt="${person.displayName}'s photo in Sites">
          <dl>
            <dt>User principal name</dt><dd>${person.userPrincipalName}</dd>
            <dt>Mail</dt><dd>${person.mail ?? '-'}</dd>
            <dt>Role</dt><dd>${ROLE_WORDS[person.role]}</dd>
            <dt>State</dt><dd>${person.enabled ? 'Enabled: can sign in' : 'Disabled: cannot sign in'}${person.mustChangePassword ? ' (must choose a new password at the next sign-in)' : ''}</dd>
          </dl>
          <p><a href="/admin/sync/people/${encodeURIComponent(person.userPrincipalName)}">Sync status</a> · <a href="/admin/audit?person=${encodeURIComponent(person.userPrincipalName)}">Audit log</a></p>
        </section>
        <div class="photo-row">
          <section class="card" aria-labelledby="access-heading">
            <h2 id="access-heading">Sign-in</h2>
            ${
              person.enabled
                ? html`<form method="post" action="${url}/disable">
                  <input type="hidden" name="_csrf" value="${token}">
                  <label for="reason">Reason for disabling (optional, kept in the audit log)</label>
                  <input id="reason" name="reason" type="text" maxlength="500">
                  <p class="hint">They cannot sign in, and their sessions and API tokens stop working at once.</p>
                  <div class="actions"><button type="submit" class="danger">Disable</button></div>
                </form>`
                : html`<form method="post" action="${url}/enable" class="actions">
                  <input type="hidden" name="_csrf" value="${token}">
                  <button type="submit">Enable</button>
                </form>`
            }
            <form method="post" action="${url}/password">
              <input type="hidden" name="_csrf" value="${token}">
              <p class="hint">A one-time password, shown once, that they must change at their next sign-in. Their sessions end.</p>
              <div class="actions"><button type="submit" class="secondary">Reset password</button></div>
            </form>
          </section>
          <section class="card" aria-labelledby="role-heading">
            <h2 id="role-heading">Role</h2>
            <form method="post" action="${url}/role">
              <input type="hidden" name="_csrf" value="${token}">
              <label for="new-role">Role</label>
              <select id="new-role" name="role">${ROLES.map((r) => html`<option value="${r}" ${person.role === r ? 'selected' : ''}>${ROLE_WORDS[r]}</option>`)}</select>
              <div class="actions"><button type="submit" class="secondary">Change role</button></div>
            </form>
            <h2>Remove</h2>
            <p class="hint">Deletes their photos, Sites copies, sync history, sessions and tokens. The audit log keeps its entries.</p>
            <p><a href="${url}/remove">Remove ${person.displayName}…</a></p>
          </section>
        </div>
        <p><a href="/admin/people">All people</a></p>`,
    );
  };

  // Refused before the body is read: not an admin (403), or nobody by that name (404).
  const adminFirst = refuseBeforeBody(signedIn, (actor) => people.assertMayManagePeople(actor));
  const adminAndPersonFirst = refuseBeforeBody(signedIn, async (actor, request) => {
    people.assertMayManagePeople(actor);
    await directory.getPerson((request.params as { upn: string }).upn);
  });
  const mayDisableFirst = refuseBeforeBody(signedIn, async (actor, request) =>
    people.assertMayDisable(actor, await directory.getPerson((request.params as { upn: string }).upn)),
  );
  const mayRemoveFirst = refuseBeforeBody(signedIn, async (actor, request) =>
    people.assertMayRemove(actor, await directory.getPerson((request.params as { upn: string }).upn)),
  );
  /** A 4xx from the service shown on the person's page, in its words; anything else goes to the error handler. */
  const onPersonPage = async (reply: FastifyReply, actor: PersonActor, person: Person, work: () => Promise<FastifyReply>) => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof AppError) || httpStatusOf(error) >= 500 || error instanceof NotFound) throw error;
      reply.code(httpStatusOf(error));
      return personPage(reply, actor, await directory.getPerson(person.id), { error: error.message });
    }
  };
  /**
   * `POST /admin/people/:upn/<action>`: refused before the body by `refuseFirst`, then the form's
   * CSRF token, then `work` on the named person, whose refusals show on the person's page.
   */
  const personAction = <Form extends TSchema>(
    action: string,
    refuseFirst: ReturnType<typeof refuseBeforeBody>,
    form: Form,
    work: (reply: FastifyReply, actor: PersonActor, person: Person, form: Static<Form>) => Promise<FastifyReply>,
  ) =>
    app.post(
      `/admin/people/:upn/${action}`,
      { config: PAGE, onRequest: refuseFirst, preValidation: app.csrfProtection, schema: { hide: true, params: PersonParams, body: form } },
      async (request, reply) => {
        const actor = await signedIn(request, reply);
        if (!actor) return reply;
        const person = await directory.getPerson(request.params.upn);
        return onPersonPage(reply, actor, person, () => work(reply, actor, person, request.body as Static<Form>));
      },
    );

  app.get('/admin/people', { config: PAGE, schema: { hide: true, querystring: PeopleQuery } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    return listPage(reply, actor, request.query);
  });

  app.post(
    '/admin/people',
    { config: PAGE, onRequest: adminFirst, preValidation: app.csrfProtection, schema: { hide: true, body: AddPersonForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      const form = request.body;
      try {
        const oneTime = form.passwordChoice !== 'password';
        const password = form.password ?? '';
        if (!oneTime && !password) throw new InvalidInput('Type the password for the new person, or choose a one-time password.');
        const displayName = form.displayName?.trim();
        const mail = form.mail?.trim();
        const person = await people.add(actor, {
          userPrincipalName: form.userPrincipalName.trim(),
          ...(displayName && { displayName }),
          ...(mail && { mail }),
          role: form.role ?? 'user',
          ...(!oneTime && { password }),
        });
        if (!oneTime) return reply.redirect(`${personUrl(person)}?done=added`, 303);
        const { oneTimePassword } = await people.resetPassword(actor, person);
        return oneTimePasswordPage(reply, actor, person, oneTimePassword, `${person.displayName} is added`);
      } catch (error) {
        if (!(error instanceof AppError) || httpStatusOf(error) >= 500) throw error;
        reply.code(httpStatusOf(error));
        return listPage(reply, actor, {}, { error: error.message, form: { ...form, password: '' } });
      }
    },
  );

  app.post(
    '/admin/people/settings',
    { config: PAGE, onRequest: adminFirst, preValidation: app.csrfProtection, schema: { hide: true, body: SettingsForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      await people.setDisabledMailPhoto(actor, request.body.disabledMailPhoto);
      return reply.redirect('/admin/people?done=settings', 303);
    },
  );

  app.get(
    '/admin/people/:upn',
    { config: PAGE, schema: { hide: true, params: PersonParams, querystring: PersonQuery } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      return personPage(reply, actor, await people.getPerson(actor, request.params.upn), { done: request.query.done });
    },
  );

  personAction('disable', mayDisableFirst, DisableForm, async (reply, actor, person, form) => {
    const reason = form.reason?.trim();
    await people.disable(actor, person, reason ? { reason } : {});
    return reply.redirect(`${personUrl(person)}?done=disabled`, 303);
  });

  personAction('enable', adminAndPersonFirst, EmptyForm, async (reply, actor, person) => {
    await people.enable(actor, person);
    return reply.redirect(`${personUrl(person)}?done=enabled`, 303);
  });

  personAction('role', adminAndPersonFirst, RoleForm, async (reply, actor, person, form) => {
    await people.setRole(actor, person, form.role);
    return reply.redirect(`${personUrl(person)}?done=role`, 303);
  });

  personAction('password', adminAndPersonFirst, EmptyForm, async (reply, actor, person) => {
    const { oneTimePassword } = await people.resetPassword(actor, person);
    return oneTimePasswordPage(reply, actor, person, oneTimePassword, `New password for ${person.displayName}`);
  });

  app.get('/admin/people/:upn/remove', { config: PAGE, schema: { hide: true, params: PersonParams } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const person = await directory.getPerson(request.params.upn);
    people.assertMayRemove(actor, person);
    return page(
      reply,
      actor,
      `Remove ${person.displayName}?`,
      html`<h1>Remove ${person.displayName}?</h1>
        <form method="post" action="${personUrl(person)}/remove" class="confirm-box">
          <input type="hidden" name="_csrf" value="${csrfToken(reply)}">
          <p><strong>${person.userPrincipalName}</strong> and their Mail photos, Sites copies, sync history, sessions and API tokens are deleted. This cannot be undone.</p>
          <p>The audit log keeps its entries about them. To only stop them signing in, disable them instead.</p>
          <div class="actions"><button type="submit" class="danger-strong">Remove ${person.displayName}</button> <a href="${personUrl(person)}">Cancel</a></div>
        </form>`,
    );
  });

  personAction('remove', mayRemoveFirst, EmptyForm, async (reply, actor, person) => {
    await people.remove(actor, person);
    return reply.redirect('/admin/people?done=removed', 303);
  });
};
