export {
  OidcSignIn,
  OidcSignInFailed,
  PICTURE_MAX_BYTES,
  type OidcSignInOptions,
  type OidcSignedIn,
  type OidcFailureReason,
  type OidcFailureKind,
} from './oidc-sign-in.ts';
export { OidcSignInStore } from './sign-in-store.ts';
export { readPictureClaim, PictureUnusable, type PictureFetchOptions } from './picture-claim.ts';
