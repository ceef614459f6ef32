import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import { httpHeadersOf, httpStatusOf } from '../http/index.ts';
import { html } from './html.ts';
import type { RequestAuthentication } from '../identity/index.ts';
import { renderPage } from './layout.ts';
import { pageViewer } from './page-rendering.ts';

interface ErrorBody {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  link?: { href: string; text: string };
}

/** fastify's own 4xx errors, in words a person understands and with Graph-style codes. */
const FASTIFY_ERRORS: Record<string, { code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'ImageTooLarge', message: 'The request body is too large.' },
  FST_REQ_FILE_TOO_LARGE: { code: 'ImageTooLarge', message: 'The file is too large; the limit is 4 MB.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UnsupportedMediaType', message: 'This content type is not accepted here.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BadRequest', message: 'The request body is empty.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BadRequest', message: 'The request body is not valid JSON.' },
  FST_CSRF_INVALID_TOKEN: {
    code: 'Forbidden',
    message: 'This form has expired or was not sent from this site; reload the page and try again.',
  },
  FST_CSRF_MISSING_SECRET: {
    code: 'Forbidden',
    message: 'This form has expired or was not sent from this site; reload the page and try again.',
  },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'BadRequest', message: 'The form must be sent as multipart/form-data.' },
  FST_FILES_LIMIT: { code: 'BadRequest', message: 'The form has more files than it takes (the photo form takes one).' },
  FST_FIELDS_LIMIT: { code: 'BadRequest', message: 'The form has more fields than it takes.' },
  FST_PARTS_LIMIT: { code: 'BadRequest', message: 'The form has more parts than it takes.' },
  FST_PROTO_VIOLATION: { code: 'BadRequest', message: 'The form has a field name that is not allowed.' },
  FST_ERR_BAD_URL: { code: 'BadRequest', message: 'The address is not valid (it has a broken %-escape).' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'BadRequest', message: 'A part of the address is too long.' },
};

/** Body-reading failures that say the client's upload was cut off or malformed, not that the server failed. */
const CLIENT_BODY_FAILURES = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'ERR_STREAM_DESTROYED']);

/** The one place where errors become HTTP responses: Graph's error body for the API, a page for people. */
export function registerErrorHandling(app: FastifyInstance, options: { auth?: RequestAuthentication } = {}): void {
  const { auth } = options;
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (clientWentAway(error, request)) {
      // Nobody is left to answer, and nothing failed here: a line for whoever debugs, no stack.
      request.log.debug(
        { code: error.code, method: request.method, url: request.url },
        'the client went away before its request body arrived',
      );
      return sendError(request, reply, {
        status: 400,
        code: 'BadRequest',
        message: 'The request was cut off before its body arrived.',
        headers: {},
      });
    }
    const body = describe(error, request);
    // A planned 503 (the server is at capacity) is not a failure worth a stack trace per request.
    if (body.status >= 500 && body.status !== 503) request.log.error({ err: error }, 'request failed');
    else if (body.status === 503) request.log.warn({ code: body.code, status: body.status }, body.message);
    else request.log.info({ code: body.code, status: body.status }, body.message);
    return sendError(request, reply, body, auth);
  });

  app.setNotFoundHandler((request, reply) => {
    // As sent: `/_api/` paths are routed lower case.
    const path = request.originalUrl.split('?')[0]!;
    const place = path.toLowerCase().startsWith('/_api/') ? 'There is no SharePoint API at' : 'There is nothing at';
    return sendError(request, reply, { status: 404, code: 'NotFound', message: `${place} ${request.method} ${path}.`, headers: {} }, auth);
  });
}

/** Errors fastify raises before a route is found (a broken %-escape, an over-long path part). */
export function sendFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply | Promise<FastifyReply> {
  return sendError(request, reply, describe(error, request));
}

/**
 * The body could not be read because the client went away mid-body (or stalled past the request
 * timeout and was cut off). Judged by the request stream itself, so a server-side ECONNRESET (a
 * database connection dropping) is never mistaken for it.
 */
function clientWentAway(error: FastifyError, request: FastifyRequest): boolean {
  const bodyFailure = CLIENT_BODY_FAILURES.has(error.code) || /^(aborted|Unexpected end of form)$/.test(error.message);
  return bodyFailure && (request.raw.readableAborted || request.raw.socket?.destroyed === true);
}

function isMultipart(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').toLowerCase().startsWith('multipart/');
}

function describe(error: FastifyError, request: FastifyRequest): ErrorBody {
  if (error instanceof AppError)
    return {
      status: httpStatusOf(error),
      code: error.code,
      message: error.message,
      headers: httpHeadersOf(error),
      ...(error.link && { link: error.link }),
    };
  // Worded by the schema's failure (SCHEMA_VALIDATION in http/): it names the field and what it must be.
  if (error.validation) return { status: 400, code: 'BadRequest', message: error.message, headers: {} };
  if (
    isMultipart(request) &&
    (CLIENT_BODY_FAILURES.has(error.code) || /^(Multipart|Unexpected end of form|Malformed part header)/.test(error.message))
  ) {
    return {
      status: 400,
      code: 'BadRequest',
      message: 'The form could not be read: it was cut off or is not valid multipart/form-data. Send it again.',
      headers: {},
    };
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const known = FASTIFY_ERRORS[error.code];
    return {
      status,
      code: known?.code ?? (status === 429 ? 'TooManyRequests' : 'BadRequest'),
      message: known?.message ?? error.message,
      headers: {},
    };
  }
  return {
    status: 500,
    code: 'InternalServerError',
    message: 'Something went wrong on our side; the request id identifies it in the log.',
    headers: {},
  };
}

/** Who is signed in, for the error page's header: the same app bar as every other page. */
async function errorPageViewer(request: FastifyRequest, reply: FastifyReply, auth: RequestAuthentication | undefined) {
  // Only for the header: an error page must show even when the credential is what failed.
  const actor = await auth?.findActor(request).catch(() => undefined);
  try {
    return pageViewer(reply, actor?.kind === 'person' ? actor : undefined);
  } catch {
    // Without a CSRF token (the plugin is what failed) the page goes out with a plain header.
    return {};
  }
}

async function sendErrorPage(
  request: FastifyRequest,
  reply: FastifyReply,
  body: ErrorBody,
  auth: RequestAuthentication | undefined,
): Promise<FastifyReply> {
  const title = body.status === 404 ? 'Page not found' : 'Something is not right';
  const viewer = await errorPageViewer(request, reply, auth);
  return reply.type('text/html; charset=utf-8').send(
    renderPage(
      { title, ...viewer },
      html`<section class="card error-page">
          <h1>${title}</h1>
          <p role="alert">${body.message}</p>
          ${body.link ? html`<p><a href="${body.link.href}">${body.link.text}</a></p>` : ''}
          <p><a href="/">Go to the home page</a></p>
          <p class="hint">If you ask for help, give this request id: <code>${request.id}</code></p>
        </section>`,
    ),
  );
}

function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  body: ErrorBody,
  auth?: RequestAuthentication,
): FastifyReply | Promise<FastifyReply> {
  reply.code(body.status).headers(body.headers);
  if (wantsPage(request)) return sendErrorPage(request, reply, body, auth);
  return reply.type('application/json').send({
    error: {
      code: body.code,
      message: body.message,
      innerError: {
        date: new Date().toISOString(),
        'request-id': request.id,
        'client-request-id': request.headers['client-request-id'] ?? request.id,
      },
    },
  });
}

function wantsPage(request: FastifyRequest): boolean {
  if (request.routeOptions.config?.page) return true;
  const path = request.url;
  const isApi =
    path.startsWith('/v1.0/') ||
    path.startsWith('/_api/') ||
    path.startsWith('/_layouts/') ||
    path.startsWith('/User%20Photos/') ||
    path.startsWith('/metrics');
  return !isApi && (request.headers.accept ?? '').includes('text/html');
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A portal page: errors render as HTML. */
    page?: boolean;
  }
}
