import type { Person } from '../directory/index.ts';
import { html, type SafeHtml } from './html.ts';

export interface PageOptions {
  title: string;
  person?: Person | undefined;
  /** Shows the admin's places (People, Sync status, Import, Audit) in the navigation. */
  admin?: boolean | undefined;
  /** The page's path, so the navigation can mark where the person is. */
  path?: string | undefined;
  /** A CSRF token for the sign-out form in the account menu. */
  csrfToken?: string | undefined;
  scripts?: string[];
  styles?: string[];
}

interface Place {
  href: string;
  text: string;
  /** Paths that belong to this place (the person is "here" on any of them). */
  prefix: string;
}

const PLACES: readonly Place[] = [
  { href: '/mail/photo', text: 'Mail', prefix: '/mail' },
  { href: '/files', text: 'Files', prefix: '/files' },
  { href: '/sites', text: 'Sites', prefix: '/sites' },
];
const ADMIN_PLACES: readonly Place[] = [
  { href: '/admin/people', text: 'People', prefix: '/admin/people' },
  { href: '/admin/sync', text: 'Sync status', prefix: '/admin/sync' },
  { href: '/admin/import', text: 'Import', prefix: '/admin/import' },
  { href: '/admin/audit', text: 'Audit', prefix: '/admin/audit' },
  { href: '/admin/directory', text: 'Directory', prefix: '/admin/directory' },
];

function isHere(place: Place, path: string | undefined): boolean {
  if (!path) return false;
  const bare = path.split('?')[0]!;
  return bare === place.prefix || bare.startsWith(`${place.prefix}/`);
}

/** The person's own photo as Sites shows it everywhere: always an image (their photo or their initials). */
export function ownPhotoUrl(person: Person, size: 'S' | 'M' | 'L'): string {
  return `/_layouts/15/userphoto.aspx?size=${size}&accountname=${encodeURIComponent(person.userPrincipalName)}`;
}

/**
 * Someone's Sites photo, naming the version Sites holds (its Mail ETag, null for their initials):
 * the browser keeps such a URL for good, and a new photo comes with a new URL on the next page.
 */
export function sitesPhotoUrl(person: Person, size: 'S' | 'M' | 'L', syncedEtag: string | null): string {
  return syncedEtag ? `${ownPhotoUrl(person, size)}&t=${encodeURIComponent(syncedEtag)}` : ownPhotoUrl(person, size);
}

function appBar(options: PageOptions): SafeHtml {
  const { person } = options;
  if (!person) {
    return html`<header class="bar"><a class="brand" href="/"><img src="/assets/favicon.svg" alt="" width="24" height="24">photosync</a></header>`;
  }
  const places = options.admin ? [...PLACES, ...ADMIN_PLACES] : PLACES;
  return html`<header class="bar">
  <a class="brand" href="/"><img src="/assets/favicon.svg" alt="" width="24" height="24">photosync</a>
  <nav class="places" aria-label="Main">
    <ul>${places.map((place) => html`<li><a href="${place.href}" ${isHere(place, options.path) ? html`aria-current="page"` : ''}>${place.text}</a></li>`)}</ul>
  </nav>
  <details class="account">
    <summary><img class="photo" src="${ownPhotoUrl(person, 'S')}" alt="" width="32" height="32"><span class="who" aria-hidden="true">${person.displayName}</span><span class="visually-hidden">Account menu of ${person.displayName}</span></summary>
    <div class="menu">
      <p class="menu-who"><strong>${person.displayName}</strong><br><span class="hint">${person.userPrincipalName}</span></p>
      <ul>
        <li><a href="/sites/people/${encodeURIComponent(person.userPrincipalName)}">Your profile</a></li>
        <li><a href="/mail/photo">Your photo in Mail</a></li>
        <li><a href="/about/photo-sync">About profile photo sync</a></li>
        <li><a href="/account/password">Change password</a></li>
        ${options.admin ? html`<li><a href="/docs">API documentation</a></li>` : ''}
      </ul>
      <form method="post" action="/signout">
        <input type="hidden" name="_csrf" value="${options.csrfToken ?? ''}">
        <button type="submit" class="secondary">Sign out</button>
      </form>
    </div>
  </details>
</header>`;
}

/** The page frame every portal page (error pages too) shares. No inline script or style: the CSP forbids both. */
export function renderPage(options: PageOptions, body: SafeHtml): string {
  const { title } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · photosync</title>
${(options.styles ?? []).map((href) => html`<link rel="stylesheet" href="${href}">`)}
<link rel="stylesheet" href="/assets/portal.css">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<script src="/assets/local-time.js" defer></script>
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
${appBar(options)}
<main id="main">
${body}
</main>
</body>
</html>
`.value;
}
