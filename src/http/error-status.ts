import type { AppError, ErrorCode } from '../errors.ts';

/**
 * The HTTP status each error code is answered with: the one place the domains' errors meet HTTP.
 * Total over ErrorCode, so a new code without a status fails the type check.
 */
export const HTTP_STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  Request_ResourceNotFound: 404,
  ImageNotFound: 404,
  InvalidImage: 400,
  UnsupportedImageType: 415,
  ImageTooLarge: 413,
  PhotoChanged: 409,
  PhotoChangedMeanwhile: 409,
  PhotoManagedByDirectory: 403,
  BadRequest: 400,
  Conflict: 409,
  BulkSyncAlreadyRunning: 409,
  DirectorySyncAlreadyRunning: 409,
  DirectorySyncNotConfigured: 409,
  // The directory is another server that failed us: a bad gateway, not our own failure.
  DirectoryUnavailable: 502,
  InvalidAuthenticationToken: 401,
  Authorization_RequestDenied: 403,
  TooManyRequests: 429,
  serviceNotAvailable: 503,
  OidcSignInFailed: 400,
  OidcSignInRefused: 403,
  // Like the directory: the organization's sign-in service failed us.
  OidcProviderFailed: 502,
};

/** The status an error is answered with. */
export function httpStatusOf(error: AppError): number {
  return HTTP_STATUS_OF[error.code];
}

/** The headers that go with it: Retry-After when trying again later makes sense. */
export function httpHeadersOf(error: AppError): Record<string, string> {
  return error.retryAfterSeconds === undefined ? {} : { 'retry-after': String(error.retryAfterSeconds) };
}
