export { FileStorage } from './file-storage.js';
export {
  StorageError,
  checkKey,
  joinKey,
  type ObjectStorage,
  type PutOptions,
  type StorageErrorCode,
  type StoredObject,
} from './object-storage.js';
export { openStorage, parseS3Uri, type S3Location } from './open-storage.js';
export { S3Storage, createS3Client, type S3ClientOptions } from './s3-storage.js';
