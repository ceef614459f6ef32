import type { Person } from '../directory/index.ts';
import { html, type SafeHtml } from './html.ts';

export interface PageOptions {
  title: string;
  person?: Person | undefined;
  /** A CSRF token for the sign-out form in the header. */
  csrfToken?: string | undefined;
  scripts?: string[];
}

/** The page frame every portal page shares. No inline script or style: the CSP forbids both. */
export function renderPage(options: PageOptions, body: SafeHtml): string {
  const { title, person } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · photosync</title>
<link rel="stylesheet" href="/assets/portal.css">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="bar">
  <a class="brand" href="/">photosync</a>
  ${person
    ? html`<nav aria-label="Account">
        <span class="who">${person.displayName}</span>
        <form method="post" action="/signout" class="inline">
          <input type="hidden" name="_csrf" value="${options.csrfToken ?? ''}">
          <button type="submit" class="link">Sign out</button>
        </form>
      </nav>`
    : ''}
</header>
<main id="main">
${body}
</main>
</body>
</html>
`.value;
}
