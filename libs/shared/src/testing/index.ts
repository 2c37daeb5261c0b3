export { startS3rver, type S3rverProcess } from './s3rver-process.js';
export { exactCaptionMatch, relationOf, shapesCaption, type ShapesObject, type ShapesScene } from './shapes-world.js';
export { freePort } from './free-port.js';
