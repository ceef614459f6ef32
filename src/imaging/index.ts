export { detectImageFormat, formatName, type ImageFormat } from './image-format.ts';
export {
  renderMailPhotoSizes,
  validatePhotoUpload,
  GRAPH_PHOTO_SIZES,
  graphPhotoSizeOf,
  MAIL_PHOTO_MAX_BYTES,
  MAX_INPUT_PIXELS,
  type GraphPhotoSize,
  type Rendition,
  type MailPhotoRenditions,
} from './mail-photo-renditions.ts';
export { drawDemoPortrait } from './demo-portrait.ts';
export {
  renderSiteThumbnails,
  renderPlaceholder,
  convertBmpToPng,
  SITE_THUMBNAIL_SIZES,
  type SiteThumbnail,
  type SiteThumbnailSize,
} from './site-thumbnails.ts';
export { ImageWorkQueue, type ImageWorkOptions } from './image-work-queue.ts';
export { keepWorkerThreadsInBackground } from './thread-priority.ts';
