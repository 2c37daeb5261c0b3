export {
  emptyMalformed,
  shardFormat,
  type CorpusSample,
  type ImageRef,
  type KeptText,
  type MalformedCounts,
  type OutputSample,
  type ParsedShard,
  type ShardFormat,
  type TextSource,
} from './corpus.js';
export { readJsonl, writeJsonl } from './jsonl.js';
export { DEFAULT_CAPFILT_PARAMS, imageSeed, shardFingerprint, type CapfiltParams } from './params.js';
export { ShardProcessor, capfiltModel, type CapfiltModel, type ImageReader, type ShardCounts, type ShardProcessorOptions } from './shard-processor.js';
export { runShardJob, statsKey, summarize, type RunSummary, type ShardJobOptions, type ShardJobResult, type ShardStats } from './shard-job.js';
export { readWebDataset, writeWebDataset } from './webdataset.js';
