export { DEFAULT_MAX_WORDS, preCaption, preQuestion } from './text.js';
export * from './jobs/index.js';
export { ConfigSchema, loadConfig, parseApiKeys, type Config } from './config.js';
