/**
 * Every code an error here can carry. Clients and scripts rely on them (they are in every API error
 * body), so they never change; Graph's own where Graph has one. The HTTP status of each is in
 * `http/error-status.ts` and the CLI's exit code in `cli/exit-code.ts`: both maps are total over
 * this list, so a new code without a status or an exit code fails the type check.
 */
export const ERROR_CODES = [
  'Request_ResourceNotFound',
  'ImageNotFound',
  'InvalidImage',
  'UnsupportedImageType',
  'ImageTooLarge',
  'PhotoChanged',
  'PhotoChangedMeanwhile',
  'PhotoManagedByDirectory',
  'BadRequest',
  'Conflict',
  'BulkSyncAlreadyRunning',
  'DirectorySyncAlreadyRunning',
  'DirectorySyncNotConfigured',
  'DirectoryUnavailable',
  'InvalidAuthenticationToken',
  'Authorization_RequestDenied',
  'TooManyRequests',
  'serviceNotAvailable',
  // OIDC sign-in (oidc/OidcSignInFailed): start again, refused, the provider failed.
  'OidcSignInFailed',
  'OidcSignInRefused',
  'OidcProviderFailed',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The one family of errors the services throw: a stable code and a message in the user's words, no
 * HTTP. `web/error-handler.ts` is the only place that turns them into responses, the CLI's
 * `reportFailure` the only place that turns them into exit codes.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** Where a person can go about it (an error page shows it as a link; the API body has the path in the message). */
  link?: { href: string; text: string };
  /** When trying again makes sense (HTTP sends it as Retry-After). */
  retryAfterSeconds?: number;
}

/** A person, token or other resource that does not exist (Graph: Request_ResourceNotFound). */
export class NotFound extends AppError {
  constructor(message: string, code: 'Request_ResourceNotFound' | 'ImageNotFound' = 'Request_ResourceNotFound') {
    super(code, message);
  }
}

/** The person exists but has no photo (Graph: ImageNotFound). */
export class ImageNotFound extends NotFound {
  constructor(message = "The photo wasn't found.") {
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
    super('InvalidImage', message);
  }
}

/** An image of a kind we do not take (SVG, GIF, …). */
export class UnsupportedImageType extends AppError {
  constructor(message: string) {
    super('UnsupportedImageType', message);
  }
}

export class ImageTooLarge extends AppError {
  constructor(message: string) {
    super('ImageTooLarge', message);
  }
}

/** The photo was replaced between two reads that had to see the same version; reading again helps. */
export class PhotoChangedWhileRead extends AppError {
  constructor(message: string) {
    super('PhotoChanged', message);
  }
}

/** A conditional change found the photo changed by someone else since the decision; nothing was stored. */
export class PhotoChangedMeanwhile extends AppError {
  constructor(message: string) {
    super('PhotoChangedMeanwhile', message);
  }
}

/**
 * The person's photo follows the organization's directory (its policy is "authoritative"): changes
 * made here would be undone by the next sync or sign-in, so they are refused with where to go instead.
 */
export class PhotoManagedByDirectory extends AppError {
  constructor(message: string) {
    super('PhotoManagedByDirectory', message);
  }
}

/** A value the caller gave that breaks a rule (a name, a role, a form field); the message says which. */
export class InvalidInput extends AppError {
  constructor(message: string) {
    super('BadRequest', message);
  }
}

/** Something with this name already exists (a person's user principal name). */
export class AlreadyExists extends AppError {
  constructor(message: string) {
    super('Conflict', message);
  }
}

/** A second bulk sync while one runs: one at a time, so two runs never fight over the same people. */
export class BulkSyncAlreadyRunning extends AppError {
  constructor(
    readonly runId: string,
    startedBy: string,
  ) {
    super(
      'BulkSyncAlreadyRunning',
      `A bulk sync started by ${startedBy} is still running (/admin/runs/${runId}); wait for it to finish or cancel it first.`,
    );
    this.link = { href: `/admin/runs/${runId}`, text: 'See the running sync' };
  }
}

/** A second directory sync while one runs (in any process): one at a time. */
export class DirectorySyncAlreadyRunning extends AppError {
  constructor(
    readonly runId: string,
    startedBy: string,
  ) {
    super(
      'DirectorySyncAlreadyRunning',
      `A directory sync started by ${startedBy} is still running (/admin/runs/${runId}); wait for it to finish.`,
    );
    this.link = { href: `/admin/runs/${runId}`, text: 'See the running directory sync' };
  }
}

/** LDAP_URL is not set: there is no directory to sync from. */
export class DirectorySyncNotConfigured extends AppError {
  constructor() {
    super(
      'DirectorySyncNotConfigured',
      'LDAP directory sync is not set up: set LDAP_URL, LDAP_BASE_DN and the other LDAP_* variables (see the README) and restart.',
    );
  }
}

/** The directory cannot be reached or refuses the bind: the whole sync fails, nobody is changed. */
export class DirectoryUnavailable extends AppError {
  constructor(message: string) {
    super('DirectoryUnavailable', message);
  }
}

/** No credentials, or credentials that are no longer valid. */
export class Unauthenticated extends AppError {
  constructor(message = 'Sign in, or send a valid bearer token.') {
    super('InvalidAuthenticationToken', message);
  }
}

/** The actor is known but may not do this (Graph: Authorization_RequestDenied). */
export class NotPermitted extends AppError {
  constructor(message = 'You are not allowed to do that.') {
    super('Authorization_RequestDenied', message);
  }
}

/** Signed in with a one-time password: nothing but the password page (and sign-out) until it is changed. */
export class PasswordChangeRequired extends NotPermitted {
  constructor() {
    super('You signed in with a one-time password: change it at /account/password before doing anything else.');
    this.link = { href: '/account/password', text: 'Change your password' };
  }
}

/** Too many tries in a short time (sign-ins, password changes): wait, then try again. */
export class TooManyAttempts extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super('TooManyRequests', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The server is at capacity for this kind of work; the client should come back shortly. */
export class ServiceBusy extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super('serviceNotAvailable', message);
    this.retryAfterSeconds = retryAfterSeconds;
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
