export {
  ModelDirectoryError,
  isModelDirectoryError,
  type ModelDirectoryErrorCode,
  type ModelDirectoryErrorDetails,
} from './errors.js';
export {
  GRAPH_ROLES,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  ManifestSchema,
  TASKS,
  TENSOR_DTYPES,
  checkGraphSignature,
  getGraph,
  graphPath,
  isSafeRelativePath,
  loadManifest,
  parseManifest,
  type GraphRole,
  type GraphSession,
  type GraphSpec,
  type LoadManifestOptions,
  type ModelManifest,
  type TaskName,
  type TaskSpec,
  type TensorSpec,
} from './manifest.js';
export {
  EncodedTensorSchema,
  RoundtripFixtureSchema,
  decodeTensor,
  encodeTensor,
  type DecodedTensor,
  type EncodedTensor,
  type FixtureDtype,
  type RoundtripFixture,
} from './fixtures.js';
export {
  argmax,
  logSoftmax,
  minLength,
  repetitionPenalty,
  softmax64,
  temperature,
  topK,
  topP,
} from './generation/logits-processors.js';
export {
  Hypotheses,
  beamSearch,
  drawToken,
  greedy,
  sample,
  type BeamOptions,
  type CommonOptions,
  type DecoderStepper,
  type Generated,
  type SampleOptions,
} from './generation/search.js';
export { OrtDecoderSession, computeCrossKV, type CrossKV } from './decoder-session.js';
export { rankAnswers, type EncodedAnswers, type FullPassDecoder, type RankedAnswer } from './vqa-rank.js';
export {
  BlipEngine,
  mulberry32,
  type AnswerGenerateOptions,
  type AnswerRankOptions,
  type Caption,
  type CaptionMode,
  type CaptionOptions,
  type EngineOptions,
  type GeneratedAnswer,
  type MatchOptions,
  type MatchPair,
  type MatchResult,
  type Question,
  type ScoredAnswer,
} from './engine.js';
export { Blip, BlipWorkerError, type BlipCaptionOptions, type BlipOpenOptions, type Gallery, type ImageInput } from './blip.js';
export { resolveModelDir, type ResolveModelDirOptions } from './model-source.js';
export {
  DEFAULT_TOP_K,
  RetrievalError,
  isRetrievalError,
  packEmbeddings,
  rankByItc,
  rerankHits,
  type GalleryEmbeddings,
  type ItcHit,
  type RetrievalErrorCode,
  type RetrievalHit,
  type RetrieveOptions,
} from './retrieve.js';
export {
  DEFAULT_MAX_TEXT_LENGTH,
  MAX_CHARS_PER_WORD,
  WordPieceTokenizer,
  basicTokenize,
  cleanUpTokenization,
  type EncodedBatch,
  type SpecialTokenIds,
} from './tokenizer.js';
export {
  DEFAULT_IMAGE_LIMITS,
  ImageError,
  decodeAndResize,
  isImageError,
  normalize,
  packImages,
  preprocess,
  type ImageErrorCode,
  type ImageLimits,
} from './image.js';
