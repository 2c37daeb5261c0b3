export { LABELS, imageBytes, tarShard, writeJsonlCorpus, writeWebDatasetCorpus, type LabelledImage } from './shapes-corpus.js';
