export { IdentityService, assertStrongPassword, MIN_PASSWORD_LENGTH, SIGN_IN_FAILED, type SignedIn } from './identity-service.ts';
export { CredentialStore, type ApiTokenInfo } from './credential-store.ts';
export { isAdmin, actorPersonId, CLI_ACTOR, type Actor } from './actor.ts';
export { createRequestAuthentication, SESSION_COOKIE, type RequestAuthentication } from './request-authentication.ts';
export { ensureFirstAdmin, type FirstAdminResult } from './first-admin.ts';
