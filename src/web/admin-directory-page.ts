import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  DIRECTORY_PHOTO_POLICIES,
  DIRECTORY_SOURCES,
  type DirectoryPhotoIntake,
  type DirectoryPhotoPolicy,
  type DirectorySource,
} from '../directory-photos/index.ts';
import type { DirectorySync } from '../directory-sync/index.ts';
import { CsrfToken, Flash } from '../http/index.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import { directorySyncSectionFor } from './admin-directory-sync-section.ts';
import { html } from './html.ts';
import { createPageRendering, csrfToken, PAGE, refuseBeforeBody } from './page-rendering.ts';

export interface AdminDirectoryPageOptions {
  directoryPhotos: DirectoryPhotoIntake;
  directorySync: DirectorySync;
  auth: RequestAuthentication;
}

const PageQuery = Type.Object({ done: Flash });
const PolicyForm = Type.Object({
  _csrf: CsrfToken,
  source: Type.Enum(DIRECTORY_SOURCES, { title: 'directory source' }),
  policy: Type.Enum(DIRECTORY_PHOTO_POLICIES, { title: 'photo policy' }),
});

const SOURCE_TITLES: Record<DirectorySource, string> = {
  ldap: 'Photos from the LDAP directory',
  oidc: 'Photos from the sign-in provider (OIDC)',
};
const SOURCE_HINTS: Record<DirectorySource, string> = {
  ldap: 'The photo attribute (thumbnailPhoto, jpegPhoto) of each person, read at every directory sync.',
  oidc: 'The picture claim of the person who signs in, read at every sign-in.',
};
const POLICY_WORDS: Record<DirectoryPhotoPolicy, { label: string; hint: string }> = {
  never: {
    label: 'Never use it',
    hint: 'Mail keeps only the photos people and admins upload. The directory photo is still kept with the person.',
  },
  'fill-when-empty': {
    label: 'Fill in when the person has no photo (recommended)',
    hint: "A person without a photo gets the directory's, and later changes in the directory follow until the person chooses their own. A photo a person chose is never replaced.",
  },
  authoritative: {
    label: 'The directory decides',
    hint: "Mail always shows the directory's photo (and none when the directory has none). Nobody can change these people's photos here; the page says where to change them instead.",
  },
};

/** The admin's "Directory" page: how photos from each directory source are used. */
export const registerAdminDirectoryPage: FastifyPluginAsyncTypebox<AdminDirectoryPageOptions> = async (app, options) => {
  const { directoryPhotos, directorySync, auth } = options;
  const { signedIn, page } = createPageRendering(auth);

  app.get('/admin/directory', { config: PAGE, schema: { hide: true, querystring: PageQuery } }, async (request, reply) => {
    const actor = await signedIn(request, reply);
    if (!actor) return reply;
    const policies = await directoryPhotos.policies(actor);
    const saved = request.query.done === 'policy';
    const token = csrfToken(reply);
    return page(
      reply,
      actor,
      'Directory',
      html`<h1>Directory</h1>
        ${saved ? html`<p class="notice" role="status">The photo policy is saved.</p>` : ''}
        <p>Where Mail's photos may come from besides the people themselves. Sites never takes a directory photo: it shows what Mail has.</p>
        ${DIRECTORY_SOURCES.map(
          (source) => html`<form method="post" action="/admin/directory/photo-policy" class="card">
            <input type="hidden" name="_csrf" value="${token}">
            <input type="hidden" name="source" value="${source}">
            <fieldset><legend>${SOURCE_TITLES[source]}</legend>
              <p class="hint">${SOURCE_HINTS[source]}</p>
              ${DIRECTORY_PHOTO_POLICIES.map(
                (
                  policy,
                ) => html`<label class="choice"><input type="radio" name="policy" value="${policy}" ${policies[source] === policy ? 'checked' : ''} aria-describedby="${source}-${policy}-hint"> ${POLICY_WORDS[policy].label}</label>
                  <p class="hint" id="${source}-${policy}-hint">${POLICY_WORDS[policy].hint}</p>`,
              )}
            </fieldset>
            <div class="actions"><button type="submit">Save the policy for ${source === 'ldap' ? 'LDAP' : 'OIDC'}</button></div>
          </form>`,
        )}
        ${await directorySyncSectionFor(directorySync, actor, token)}`,
    );
  });

  const adminFirst = refuseBeforeBody(signedIn, (actor) => directoryPhotos.assertMayAdminister(actor));
  app.post(
    '/admin/directory/photo-policy',
    { config: PAGE, onRequest: adminFirst, preValidation: app.csrfProtection, schema: { hide: true, body: PolicyForm } },
    async (request, reply) => {
      const actor = await signedIn(request, reply);
      if (!actor) return reply;
      await directoryPhotos.setPolicy(actor, request.body.source, request.body.policy);
      return reply.redirect('/admin/directory?done=policy', 303);
    },
  );
};
