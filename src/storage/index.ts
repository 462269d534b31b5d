/**
 * The image store: the only code that writes, reads or deletes image files (under UPLOAD_DIR). Features keep
 * their own tables and point at stored images by id; see image-store.ts for how they add and release them.
 */
export { createImageStore, fileFromBytes, ImagesRefusedError, SWEEP_GRACE_MS, type FileRefusal, type ImageStore, type IncomingFile, type StorageUsage } from './image-store.js';
export { MIME_TYPES, THUMBNAIL_SIDE, MAX_FRAMES, type ImageRefusalReason } from './image-check.js';
export type { StoredImage } from './stored-images.repo.js';
export { backupDatabaseAndImages, type BackupResult } from './backup.js';
