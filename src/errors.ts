/**
 * The one family of errors the services throw. Each has a stable code (Graph's, where Graph has one)
 * and an HTTP status; `web/error-handler.ts` is the only place that turns them into responses.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** Where a person can go about it (an error page shows it as a link; the API body has the path in the message). */
  link?: { href: string; text: string };
}

/** A person, token or other resource that does not exist (Graph: Request_ResourceNotFound). */
export class NotFound extends AppError {
  constructor(message: string, code = 'Request_ResourceNotFound') {
    super(code, 404, message);
  }
}

/** The person exists but has no photo (Graph: ImageNotFound). */
export class ImageNotFound extends NotFound {
  constructor(message = 'The photo wasn\'t found.') {
    super(message, 'ImageNotFound');
  }
}

/** Graph's wording, which Graph clients expect; the CLI says it plainly from `idOrName`. */
export class UserNotFound extends NotFound {
  constructor(readonly idOrName: string) {
    super(`Resource '${shown(idOrName)}' does not exist or one of its queried reference-property objects are not present.`);
  }
}

/** Bytes that are not an image we accept. */
export class InvalidImage extends AppError {
  constructor(message: string) {
    super('InvalidImage', 400, message);
  }
}

export class UnsupportedImageType extends AppError {
  constructor(message: string) {
    super('UnsupportedImageType', 415, message);
  }
}

export class ImageTooLarge extends AppError {
  constructor(message: string) {
    super('ImageTooLarge', 413, message);
  }
}

/** The photo was replaced between two reads that had to see the same version; reading again helps. */
export class PhotoChangedWhileRead extends AppError {
  constructor(message: string) {
    super('PhotoChanged', 409, message);
  }
}

/** A conditional change found the photo changed by someone else since the decision; nothing was stored. */
export class PhotoChangedMeanwhile extends AppError {
  constructor(message: string) {
    super('PhotoChangedMeanwhile', 409, message);
  }
}

/**
 * The person's photo follows the organization's directory (its policy is "authoritative"): changes
 * made here would be undone by the next sync or sign-in, so they are refused with where to go instead.
 */
export class PhotoManagedByDirectory extends AppError {
  constructor(message: string) {
    super('PhotoManagedByDirectory', 403, message);
  }
}

export class BadRequest extends AppError {
  constructor(message: string, code = 'BadRequest') {
    super(code, 400, message);
  }
}

export class Conflict extends AppError {
  constructor(message: string) {
    super('Conflict', 409, message);
  }
}

/** A second bulk sync while one runs: one at a time, so two runs never fight over the same people. */
export class BulkSyncAlreadyRunning extends AppError {
  constructor(readonly runId: string, startedBy: string) {
    super('BulkSyncAlreadyRunning', 409, `A bulk sync started by ${startedBy} is still running (/admin/runs/${runId}); wait for it to finish or cancel it first.`);
    this.link = { href: `/admin/runs/${runId}`, text: 'See the running sync' };
  }
}

/** A second directory sync while one runs (in any process): one at a time. */
export class DirectorySyncAlreadyRunning extends AppError {
  constructor(readonly runId: string, startedBy: string) {
    super('DirectorySyncAlreadyRunning', 409, `A directory sync started by ${startedBy} is still running (/admin/runs/${runId}); wait for it to finish.`);
    this.link = { href: `/admin/runs/${runId}`, text: 'See the running directory sync' };
  }
}

/** LDAP_URL is not set: there is no directory to sync from. */
export class DirectorySyncNotConfigured extends AppError {
  constructor() {
    super('DirectorySyncNotConfigured', 409, 'LDAP directory sync is not set up: set LDAP_URL, LDAP_BASE_DN and the other LDAP_* variables (see the README) and restart.');
  }
}

/** The directory cannot be reached or refuses the bind: the whole sync fails, nobody is changed. */
export class DirectoryUnavailable extends AppError {
  constructor(message: string) {
    super('DirectoryUnavailable', 502, message);
  }
}

/** No credentials, or credentials that are no longer valid. */
export class Unauthenticated extends AppError {
  constructor(message = 'Sign in, or send a valid bearer token.') {
    super('InvalidAuthenticationToken', 401, message);
  }
}

export class Forbidden extends AppError {
  constructor(message = 'You are not allowed to do that.') {
    super('Authorization_RequestDenied', 403, message);
  }
}

/** Signed in with a one-time password: nothing but the password page (and sign-out) until it is changed. */
export class PasswordChangeRequired extends Forbidden {
  constructor() {
    super('You signed in with a one-time password: change it at /account/password before doing anything else.');
    this.link = { href: '/account/password', text: 'Change your password' };
  }
}

export class TooManyRequests extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super('TooManyRequests', 429, message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/** The server is at capacity for this kind of work; the client should come back shortly. */
export class ServiceBusy extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super('serviceNotAvailable', 503, message, { 'retry-after': String(retryAfterSeconds) });
  }
}

/**
 * A value from the client as an error message may repeat it: at most `max` characters, control
 * characters shown as `?`, so a hostile input cannot flood a terminal, a log line or a page.
 */
export function shown(value: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Names and other text from clients must not carry control characters (NUL breaks PostgreSQL; ESC, terminals). */
export function hasControlCharacters(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value);
}
