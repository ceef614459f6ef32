import type { FastifyInstance } from 'fastify';
import type { SharePointRouteOptions } from './sharepoint-routes.ts';
export { SitesService, stableHue, type SitesOptions } from './sites-service.ts';
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
  type ThumbnailImage,
  type ProfileProperty,
} from './site-profile.ts';
export type { SharePointRouteOptions } from './sharepoint-routes.ts';
export { withPeopleManagerPaths, PEOPLE_MANAGER_OPENAPI_PATHS } from './people-manager-openapi.ts';

/** The SharePoint routes, loaded when the server registers them (CLI commands never load the web stack). */
export async function registerSharePointRoutes(app: FastifyInstance, options: SharePointRouteOptions): Promise<void> {
  await (await import('./sharepoint-routes.ts')).registerSharePointRoutes(app, options);
}
