import type { AppError, ErrorCode } from '../errors.ts';
import { EXIT } from './cli-io.ts';

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The exit code each error code ends a command with: 2 when the command was given something it
 * cannot use (fix the command line and run it again), 1 for every other failure. Total over
 * ErrorCode, so a new code without an exit code fails the type check.
 */
export const EXIT_CODE_OF: Readonly<Record<ErrorCode, ExitCode>> = {
  BadRequest: EXIT.usage,
  Request_ResourceNotFound: EXIT.failed,
  ImageNotFound: EXIT.failed,
  InvalidImage: EXIT.failed,
  UnsupportedImageType: EXIT.failed,
  ImageTooLarge: EXIT.failed,
  PhotoChanged: EXIT.failed,
  PhotoChangedMeanwhile: EXIT.failed,
  PhotoManagedByDirectory: EXIT.failed,
  Conflict: EXIT.failed,
  BulkSyncAlreadyRunning: EXIT.failed,
  DirectorySyncAlreadyRunning: EXIT.failed,
  DirectorySyncNotConfigured: EXIT.failed,
  DirectoryUnavailable: EXIT.failed,
  InvalidAuthenticationToken: EXIT.failed,
  Authorization_RequestDenied: EXIT.failed,
  TooManyRequests: EXIT.failed,
  serviceNotAvailable: EXIT.failed,
  OidcSignInFailed: EXIT.failed,
  OidcSignInRefused: EXIT.failed,
  OidcProviderFailed: EXIT.failed,
};

export function exitCodeOf(error: AppError): ExitCode {
  return EXIT_CODE_OF[error.code];
}
