export { MailPhotoService, assertCanEditPhoto, type PhotoChangeListener, type MailPhotoOptions, type ReadOptions } from './mail-photo-service.ts';
export { PhotoStore } from './photo-store.ts';
export { registerGraphPhotoRoutes, type GraphRouteOptions } from './graph-routes.ts';
export { quoteEtag, type PhotoVersion, type StoredRendition, type PhotoChange, type PhotoSource } from './photo-version.ts';
