export { DEFAULT_MAX_WORDS, preCaption, preQuestion } from './text.js';
export * from './jobs/index.js';
export { ConfigSchema, loadConfig, parseApiKeys, s3ClientOptions, type Config } from './config.js';
