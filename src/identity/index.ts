export {
  IdentityService,
  assertStrongPassword,
  DEFAULT_TOKEN_LIFETIME_MS,
  MIN_PASSWORD_LENGTH,
  SIGN_IN_FAILED,
  SIGN_IN_DISABLED,
  PASSWORD_SIGN_IN_OFF,
  type ApiTokenOptions,
  type SignedIn,
} from './identity-service.ts';
export { CredentialStore, type ApiTokenInfo } from './credential-store.ts';
export { isAdmin, hasAdminRole, actorPersonId, CLI_ACTOR, TOKEN_SCOPES, type Actor, type PersonActor, type TokenScope } from '../actor.ts';
export {
  createRequestAuthentication,
  csrfBinding,
  isConfinedToPasswordChange,
  SESSION_COOKIE,
  type RequestAuthentication,
} from './request-authentication.ts';
export { ensureFirstAdmin, type FirstAdminResult } from './first-admin.ts';
