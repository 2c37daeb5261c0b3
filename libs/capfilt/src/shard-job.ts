/**
 * One shard of a CapFilt run, storage to storage: skip when the output is up to date, otherwise
 * read, process, and write the output shard and then its stats. Each object is written whole
 * (an S3 PUT or a rename), and the stats — written last — are what marks a shard done, so a
 * worker killed mid-shard leaves nothing that passes for a finished output.
 */
import { createHash } from 'node:crypto';
import path from 'node:path/posix';
import type { ObjectStorage } from '@blip-jobs/shared/storage';
import { shardFormat, type MalformedCounts } from './corpus.js';
import { readJsonl, writeJsonl } from './jsonl.js';
import { shardFingerprint, type CapfiltParams } from './params.js';
import type { ShardCounts, ShardProcessor } from './shard-processor.js';
import { readWebDataset, writeWebDataset } from './webdataset.js';

export interface ShardStats extends ShardCounts {
  shard: string;
  format: 'webdataset' | 'jsonl';
  inputKey: string;
  inputSha256: string;
  outputKey: string;
  fingerprint: string;
  captionerVersion: string;
  filterVersion: string;
  params: CapfiltParams;
  seconds: number;
}

export interface ShardJobResult {
  shard: string;
  /** True when the output was already up to date (nothing computed). */
  skipped: boolean;
  stats: ShardStats;
}

export const statsKey = (outputKey: string) => `${outputKey}.stats.json`;

export interface ShardJobOptions {
  input: ObjectStorage;
  inputKey: string;
  output: ObjectStorage;
  /** Key prefix of the run's outputs ('' for the storage root). */
  outputPrefix: string;
  processor: ShardProcessor;
  params: CapfiltParams;
  captionerVersion: string;
  filterVersion: string;
  /** Reads an absolute image URI (`s3://...`) of a JSONL shard; relative ones are keys beside the shard. */
  readAbsolute?: (uri: string) => Promise<Uint8Array | null>;
}

export async function runShardJob(o: ShardJobOptions): Promise<ShardJobResult> {
  const shard = path.basename(o.inputKey);
  const format = shardFormat(shard);
  if (!format) throw new Error(`${o.inputKey} is not a shard (.tar or .jsonl)`);
  const outputKey = o.outputPrefix ? `${o.outputPrefix}/${shard}` : shard;

  const input = await o.input.get(o.inputKey);
  if (!input) throw new Error(`shard ${o.inputKey} not found in ${o.input.url}`);
  const inputSha256 = createHash('sha256').update(input.body).digest('hex');
  const fingerprint = shardFingerprint(inputSha256, o.captionerVersion, o.filterVersion, o.params);

  const previous = await o.output.get(statsKey(outputKey));
  if (previous) {
    const stats = JSON.parse(previous.body.toString('utf8')) as ShardStats;
    if (stats.fingerprint === fingerprint && (await o.output.head(outputKey))) return { shard, skipped: true, stats };
  }

  const t0 = performance.now();
  const parsed = format === 'webdataset' ? await readWebDataset(input.body) : readJsonl(input.body);
  const dir = path.dirname(o.inputKey);
  const readImage = async (uri: string): Promise<Uint8Array | null> => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
      if (!o.readAbsolute) throw new Error(`${o.inputKey}: cannot read ${uri} (no reader for absolute URIs)`);
      return o.readAbsolute(uri);
    }
    return (await o.input.get(dir === '.' ? uri : `${dir}/${uri}`))?.body ?? null;
  };
  const { out, counts } = await o.processor.process(parsed, readImage);
  const body = format === 'webdataset' ? await writeWebDataset(out) : writeJsonl(out);
  await o.output.put(outputKey, body, { contentType: format === 'webdataset' ? 'application/x-tar' : 'application/x-ndjson' });
  const stats: ShardStats = {
    shard,
    format,
    inputKey: o.inputKey,
    inputSha256,
    outputKey,
    fingerprint,
    captionerVersion: o.captionerVersion,
    filterVersion: o.filterVersion,
    params: o.params,
    ...counts,
    seconds: Math.round((performance.now() - t0) / 10) / 100,
  };
  await o.output.put(statsKey(outputKey), JSON.stringify(stats, null, 2), { contentType: 'application/json' });
  return { shard, skipped: false, stats };
}

export interface RunSummary {
  runId: string;
  shards: number;
  shardsProcessed: number;
  shardsSkipped: number;
  pairsIn: number;
  webKept: number;
  syntheticGenerated: number;
  syntheticKept: number;
  samplesOut: number;
  noiseRatio: number;
  malformed: MalformedCounts;
  seconds: number;
  captionerVersion: string;
  filterVersion: string;
  params: CapfiltParams;
}

/** Sums shard results into the run's summary (noise ratio over all scored web texts). */
export function summarize(runId: string, results: readonly ShardJobResult[], seconds: number): RunSummary {
  const sum = (f: (s: ShardStats) => number) => results.reduce((a, r) => a + f(r.stats), 0);
  const scored = sum((s) => s.pairsIn - s.malformed.unreadableImage);
  const first = results[0]?.stats;
  return {
    runId,
    shards: results.length,
    shardsProcessed: results.filter((r) => !r.skipped).length,
    shardsSkipped: results.filter((r) => r.skipped).length,
    pairsIn: sum((s) => s.pairsIn),
    webKept: sum((s) => s.webKept),
    syntheticGenerated: sum((s) => s.syntheticGenerated),
    syntheticKept: sum((s) => s.syntheticKept),
    samplesOut: sum((s) => s.samplesOut),
    noiseRatio: scored ? (scored - sum((s) => s.webKept)) / scored : 0,
    malformed: {
      missingImage: sum((s) => s.malformed.missingImage),
      unreadableImage: sum((s) => s.malformed.unreadableImage),
      missingText: sum((s) => s.malformed.missingText),
    },
    seconds,
    captionerVersion: first?.captionerVersion ?? '',
    filterVersion: first?.filterVersion ?? '',
    params: first?.params ?? ({} as CapfiltParams),
  };
}
