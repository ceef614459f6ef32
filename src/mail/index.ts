import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { GraphRouteOptions } from './graph-routes.ts';
export {
  MailPhotoService,
  assertCanEditPhoto,
  photoContentEtag,
  type PhotoChangeListener,
  type PhotoChangeGuard,
  type MailPhotoOptions,
  type ReadOptions,
} from './mail-photo-service.ts';
export { PhotoStore } from './photo-store.ts';
export type { GraphRouteOptions } from './graph-routes.ts';
export { quoteEtag, type PhotoVersion, type StoredRendition, type PhotoChange, type PhotoOrigin } from './photo-version.ts';
export {
  PhotoImporter,
  parseImportMapping,
  PHOTO_IMPORT_OUTCOMES,
  IMPORT_MAX_BYTES,
  type ImportFile,
  type ImportFileResult,
  type PhotoImportOutcome,
  type ImportReport,
  type ImportMapping,
} from './photo-import.ts';

/** The Graph routes, loaded when the server registers them (CLI commands never load the web stack). */
export const registerGraphPhotoRoutes: FastifyPluginAsyncTypebox<GraphRouteOptions> = async (app, options) => {
  await (await import('./graph-routes.ts')).registerGraphPhotoRoutes(app, options);
};
