import sharp from 'sharp';

// libvips' operation cache pays off when the same image is processed again; uploads never are, and
// the cache held on to decoded 12 MP frames (peak RSS in the upload benchmark fell by about 100 MB).
sharp.cache(false);

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
