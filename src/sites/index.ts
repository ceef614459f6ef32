import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SharePointRouteOptions } from './sharepoint-routes.ts';
export {
  SitesService,
  stableHue,
  PROFILE_PICTURE_MAX_BYTES,
  type SitesOptions,
  type ProfilePictureUploads,
  type ProfilePictureRequest,
} from './sites-service.ts';
export { SiteStore } from './site-store.ts';
export {
  thumbnailFileName,
  accountNameOf,
  thumbnailSizeOf,
  thumbnailUrl,
  claimsAccountName,
  profileProperties,
  PROFILE_PICTURES_PATH,
  type SiteProfile,
  type SyncTrigger,
  type ThumbnailImage,
  type ProfileProperty,
} from './site-profile.ts';
export type { SharePointRouteOptions } from './sharepoint-routes.ts';
export { lowerCaseApiPath } from './sharepoint-api-path.ts';

/** The SharePoint routes, loaded when the server registers them (CLI commands never load the web stack). */
export const registerSharePointRoutes: FastifyPluginAsyncTypebox<SharePointRouteOptions> = async (app, options) => {
  await (await import('./sharepoint-routes.ts')).registerSharePointRoutes(app, options);
};
