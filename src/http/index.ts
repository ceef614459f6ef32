// HTTP pieces below the domains: the domains' routes and the pages both use them, and they use no domain.
export { readCappedBody } from './raw-body.ts';
export { ifNoneMatchHits, PHOTO_CACHE_CONTROL, photoFreshness, type PhotoFreshness } from './conditional-get.ts';
export { NO_CONTROL_CHARACTERS, SCHEMA_VALIDATION, schemaErrorMessage } from './schema-validation.ts';
export { CsrfToken, FilterChoice, Flash, PlainText } from './field-schemas.ts';
export { HTTP_STATUS_OF, httpStatusOf, httpHeadersOf } from './error-status.ts';
