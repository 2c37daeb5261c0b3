/**
 * CapFilt in the worker: shard jobs (one per corpus shard, children of a run), run jobs (the
 * parent, which sums its children into the run summary) and schedule firings (which start a run
 * through the same path as `capfilt.run`).
 */
import type { FlowProducer, Job } from 'bullmq';
import type { Logger } from 'pino';
import { ShardProcessor, runShardJob, summarize, type CapfiltModel, type RunSummary, type ShardJobResult } from '@blip-jobs/capfilt';
import {
  splitLocation,
  startCapfiltRun,
  type CapfiltRunJobData,
  type CapfiltScheduleData,
  type CapfiltShardJobData,
} from '@blip-jobs/shared';
import { StorageError, openStorage, parseS3Uri, type ObjectStorage, type S3ClientOptions } from '@blip-jobs/shared/storage';

export interface CapfiltProcessorOptions {
  captioner: CapfiltModel;
  filter: CapfiltModel;
  /** The platform storage: locations without `s3://` are key prefixes in it. */
  storage: ObjectStorage;
  s3: S3ClientOptions;
  /** Images per model call (default 32). */
  batchSize: number;
  flows: FlowProducer;
  queuePrefix: string;
  logger: Logger;
}

/** Where the summary of a run goes. */
export const runSummaryKey = (outputPrefix: string, runId: string) => `${outputPrefix ? `${outputPrefix}/` : ''}_runs/${runId}.json`;

export class CapfiltProcessor {
  private readonly buckets = new Map<string, ObjectStorage>();

  constructor(private readonly o: CapfiltProcessorOptions) {}

  /** The storage and key prefix of a location (`s3://bucket/prefix` or a platform prefix). */
  private resolve(location: string): { storage: ObjectStorage; prefix: string } {
    const { storage, prefix } = splitLocation(location);
    if (storage === 'platform') return { storage: this.o.storage, prefix };
    let s = this.buckets.get(storage.bucket);
    if (!s) {
      if (!parseS3Uri(`s3://${storage.bucket}`)) throw new Error(`invalid bucket in ${location}`);
      s = openStorage(`s3://${storage.bucket}`, this.o.s3);
      this.buckets.set(storage.bucket, s);
    }
    return { storage: s, prefix };
  }

  readonly processShard = async (job: Job<CapfiltShardJobData>): Promise<ShardJobResult> => {
    const d = job.data;
    const input = this.resolve(d.input);
    const output = this.resolve(d.output);
    const processor = new ShardProcessor({
      captioner: this.o.captioner,
      filter: this.o.filter,
      params: d.params,
      batchSize: this.o.batchSize,
      onProgress: (done, total) => void job.updateProgress({ done, total }).catch(() => undefined),
    });
    const result = await runShardJob({
      input: input.storage,
      inputKey: d.inputKey,
      output: output.storage,
      outputPrefix: output.prefix,
      processor,
      params: d.params,
      captionerVersion: this.o.captioner.blip.version,
      filterVersion: this.o.filter.blip.version,
      readAbsolute: async (uri) => {
        const loc = parseS3Uri(uri);
        if (!loc) throw new StorageError('INVALID_KEY', `${uri}: JSONL images must be s3:// URIs or keys relative to the manifest`, false);
        return (await this.resolve(`s3://${loc.bucket}`).storage.get(loc.key))?.body ?? null;
      },
    });
    this.o.logger.info({ runId: d.runId, shard: result.shard, skipped: result.skipped, pairsIn: result.stats.pairsIn }, 'capfilt shard done');
    return result;
  };

  readonly processRun = async (job: Job<CapfiltRunJobData>): Promise<RunSummary> => {
    const d = job.data;
    const children = Object.values(await job.getChildrenValues<ShardJobResult>()).sort((a, b) => a.shard.localeCompare(b.shard));
    const summary = summarize(d.runId, children, Math.round((Date.now() - d.startedAt) / 100) / 10);
    const output = this.resolve(d.output);
    await output.storage.put(runSummaryKey(output.prefix, d.runId), JSON.stringify(summary, null, 2), { contentType: 'application/json' });
    this.o.logger.info({ runId: d.runId, shards: summary.shards, processed: summary.shardsProcessed }, 'capfilt run done');
    return summary;
  };

  readonly processSchedule = async (job: Job<CapfiltScheduleData>): Promise<{ runId: string; shards: number }> => {
    const d = job.data;
    const { runId, shards } = await startCapfiltRun(this.o.flows, this.resolve(d.request.input).storage, d.tenant, d.request, {
      prefix: this.o.queuePrefix,
      scheduleId: d.scheduleId,
    });
    return { runId, shards: shards.length };
  };
}
