import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exitCodeOf, EXIT_CODE_OF } from '../../src/cli/exit-code.ts';
import {
  AlreadyExists,
  BulkSyncAlreadyRunning,
  DirectorySyncAlreadyRunning,
  DirectorySyncNotConfigured,
  DirectoryUnavailable,
  ERROR_CODES,
  ImageNotFound,
  ImageTooLarge,
  InvalidImage,
  InvalidInput,
  NotFound,
  NotPermitted,
  PasswordChangeRequired,
  PhotoChangedMeanwhile,
  PhotoChangedWhileRead,
  PhotoManagedByDirectory,
  ServiceBusy,
  TooManyAttempts,
  Unauthenticated,
  UnsupportedImageType,
  UserNotFound,
} from '../../src/errors.ts';
import type { AppError } from '../../src/errors.ts';
import { HTTP_STATUS_OF, httpHeadersOf, httpStatusOf } from '../../src/http/index.ts';
import { OidcSignInFailed } from '../../src/oidc/index.ts';

/*
 * Issue 14: domain errors carry a code, not HTTP. One map turns a code into an HTTP status, one into
 * the CLI's exit code; both must know every code, and the codes clients read never change.
 */

/** One of each error, with the code, status and exit code scripts and clients rely on today. */
const KNOWN: [AppError, string, number, number][] = [
  [new NotFound('x'), 'Request_ResourceNotFound', 404, 1],
  [new UserNotFound('ada@contoso.com'), 'Request_ResourceNotFound', 404, 1],
  [new ImageNotFound(), 'ImageNotFound', 404, 1],
  [new InvalidImage('x'), 'InvalidImage', 400, 1],
  [new UnsupportedImageType('x'), 'UnsupportedImageType', 415, 1],
  [new ImageTooLarge('x'), 'ImageTooLarge', 413, 1],
  [new PhotoChangedWhileRead('x'), 'PhotoChanged', 409, 1],
  [new PhotoChangedMeanwhile('x'), 'PhotoChangedMeanwhile', 409, 1],
  [new PhotoManagedByDirectory('x'), 'PhotoManagedByDirectory', 403, 1],
  [new InvalidInput('x'), 'BadRequest', 400, 2],
  [new AlreadyExists('x'), 'Conflict', 409, 1],
  [new BulkSyncAlreadyRunning('run', 'ada'), 'BulkSyncAlreadyRunning', 409, 1],
  [new DirectorySyncAlreadyRunning('run', 'ada'), 'DirectorySyncAlreadyRunning', 409, 1],
  [new DirectorySyncNotConfigured(), 'DirectorySyncNotConfigured', 409, 1],
  [new DirectoryUnavailable('x'), 'DirectoryUnavailable', 502, 1],
  [new Unauthenticated(), 'InvalidAuthenticationToken', 401, 1],
  [new NotPermitted(), 'Authorization_RequestDenied', 403, 1],
  [new PasswordChangeRequired(), 'Authorization_RequestDenied', 403, 1],
  [new TooManyAttempts('x', 60), 'TooManyRequests', 429, 1],
  [new ServiceBusy('x', 3), 'serviceNotAvailable', 503, 1],
  [new OidcSignInFailed('expired', 'start-again', 'x'), 'OidcSignInFailed', 400, 1],
  [new OidcSignInFailed('domain', 'refused', 'x'), 'OidcSignInRefused', 403, 1],
  [new OidcSignInFailed('provider-unavailable', 'provider-failed', 'x'), 'OidcProviderFailed', 502, 1],
];

test('every error code has an HTTP status, and no status is for a code that does not exist', () => {
  assert.deepEqual(Object.keys(HTTP_STATUS_OF).sort(), [...ERROR_CODES].sort());
  for (const code of ERROR_CODES) {
    const status = HTTP_STATUS_OF[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status} is an error status`);
  }
});

test('every error code has a CLI exit code: 2 for a usage error, 1 for any other failure', () => {
  assert.deepEqual(Object.keys(EXIT_CODE_OF).sort(), [...ERROR_CODES].sort());
  for (const code of ERROR_CODES) assert.ok([1, 2].includes(EXIT_CODE_OF[code]), `${code}: ${EXIT_CODE_OF[code]}`);
  assert.deepEqual(
    ERROR_CODES.filter((code) => EXIT_CODE_OF[code] === 2),
    ['BadRequest'],
    'only invalid input is a usage error',
  );
});

test('error codes are unique', () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
});

for (const [error, code, status, exitCode] of KNOWN) {
  test(`${error.name} keeps the code ${code}, is answered with ${status} and ends a command with ${exitCode}`, () => {
    assert.equal(error.code, code);
    assert.equal(httpStatusOf(error), status);
    assert.equal(exitCodeOf(error), exitCode);
  });
}

test('every code is met by at least one error class', () => {
  assert.deepEqual([...new Set(KNOWN.map(([, code]) => code))].sort(), [...ERROR_CODES].sort());
});

test('a domain error carries no HTTP: the status and headers come from the map', () => {
  const error = new InvalidInput('A display name cannot be empty.');
  assert.equal('status' in error, false);
  assert.equal('headers' in error, false);
  assert.deepEqual(httpHeadersOf(error), {});
});

test('an error that says when to try again is answered with Retry-After', () => {
  assert.deepEqual(httpHeadersOf(new TooManyAttempts('Too many sign-in attempts.', 42)), { 'retry-after': '42' });
  assert.deepEqual(httpHeadersOf(new ServiceBusy('busy', 3)), { 'retry-after': '3' });
});
