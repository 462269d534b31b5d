/**
 * The image library: a user's images (upload, camera, gallery, delete, background removal), on the image store.
 * Other features link to an image page or take a library image through this index only.
 */
export { createImagesService, type ImagesService } from './images.service.js';
export { createImagesWebRouter } from './images.web.js';
export { declareImagesApi } from './images.api.js';
export { createBackgroundProviders, type BackgroundProviders } from './background-providers.js';
export type { LibraryImage } from './images.repo.js';
export { sendImage, type ImageToSend } from './image-response.js';
