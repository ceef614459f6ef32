import type { FastifyInstance } from 'fastify';

/**
 * The security headers every response carries, built once at start. Setting a precomputed set in
 * one hook costs a fraction of running helmet's middleware chain on each request, which mattered
 * for hot thumbnail reads (measured in `npm run bench`).
 */
export function securityHeaders(options: { https: boolean; formTargets?: readonly string[] }): Record<string, string> {
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    // The sign-out form's answer may redirect to the OIDC provider's sign-out page: browsers hold
    // redirects after a form to form-action too.
    `form-action 'self'${(options.formTargets ?? []).map((origin) => ` ${origin}`).join('')}`,
    "object-src 'none'",
    "base-uri 'none'",
    ...(options.https ? ['upgrade-insecure-requests'] : []),
  ].join('; ');
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'x-permitted-cross-domain-policies': 'none',
    ...(options.https && { 'strict-transport-security': 'max-age=31536000; includeSubDomains' }),
  };
}

/**
 * What an image or JSON answer needs: never sniffed, never framed, nothing loaded from it. The page
 * headers above would only add bytes that every client parses on every thumbnail.
 */
export function apiSecurityHeaders(options: { https: boolean }): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    ...(options.https && { 'strict-transport-security': 'max-age=31536000; includeSubDomains' }),
  };
}

/** Adds the security headers (the full set on portal pages, the short one elsewhere) and the request id. */
export function registerSecurityHeaders(app: FastifyInstance, options: { https: boolean; formTargets?: readonly string[] }): void {
  const pageHeaders = securityHeaders(options);
  const apiHeaders = apiSecurityHeaders(options);
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.routeOptions.config?.page ? pageHeaders : apiHeaders);
    reply.header('request-id', request.id);
    done();
  });
  // A page answered where no page route is (the 404 page, an error page for a browser) gets the
  // page policy too: the short one would block its stylesheet.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (
      !request.routeOptions.config?.page &&
      String(reply.getHeader('content-type') ?? '').startsWith('text/html') &&
      reply.getHeader('content-security-policy') === apiHeaders['content-security-policy']
    ) {
      reply.headers(pageHeaders);
    }
    done(null, payload);
  });
}
