export { BatchStore, FINAL_STATES, type BatchInfo, type FinalState } from './batch-store.js';
export { LIMITS } from './limits.js';
export { WorkerRegistry, type Throughput, type WorkerInfo } from './worker-registry.js';
export * from './schemas.js';
export { JOB_TASKS, queueName, resultKey, type JobTask } from './tasks.js';
export {
  CAPFILT_QUEUES,
  CapfiltParamsSchema,
  CapfiltRunRequestSchema,
  listShards,
  newRunId,
  shardJobId,
  splitLocation,
  startCapfiltRun,
  type CapfiltRunJobData,
  type CapfiltRunRequest,
  type CapfiltScheduleData,
  type CapfiltShardJobData,
} from './capfilt.js';
