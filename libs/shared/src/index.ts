export { DEFAULT_MAX_WORDS, preCaption, preQuestion } from './text.js';
