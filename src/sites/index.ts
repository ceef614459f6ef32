export { SitesService, stableHue, type SitesOptions } from './sites-service.ts';
export { SiteStore } from './site-store.ts';
export {
  thumbnailFileName,
  thumbnailUrl,
  claimsAccountName,
  profileProperties,
  PROFILE_PICTURES_PATH,
  type SiteProfile,
  type ThumbnailImage,
  type ProfileProperty,
} from './site-profile.ts';
export { registerSharePointRoutes, type SharePointRouteOptions } from './sharepoint-routes.ts';
