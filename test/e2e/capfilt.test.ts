/**
 * CapFilt through the job system: `capfilt.run` over WebDataset shards in S3, a worker killed
 * with SIGKILL in the middle of a shard, incremental re-runs, and a refresh schedule.
 */
import { Blip } from '@blip-jobs/med-model';
import { DEFAULT_CAPFILT_PARAMS, ShardProcessor, capfiltModel, readWebDataset, runShardJob } from '@blip-jobs/capfilt';
import { LABELS, tarShard, writeWebDatasetCorpus } from '@blip-jobs/capfilt/testing';
import { S3Storage } from '@blip-jobs/shared/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MODEL_DIR, Stack } from '../support/stack.js';

let stack: Stack;
let bucket: S3Storage;
let shardKeys: string[];
/** Output bytes of each shard from an undisturbed in-process run. */
const undisturbed = new Map<string, Buffer>();
const EVAL = JSON.parse(readFileSync(path.join(MODEL_DIR, 'eval.json'), 'utf8')) as Record<string, number>;

beforeAll(async () => {
  stack = await Stack.start({ workers: 1, env: { CAPFILT_BATCH: '16' } });
  bucket = new S3Storage(stack.storage.client, 'user-images');
  shardKeys = await writeWebDatasetCorpus(bucket, 'corpus/wds', 5);

  const blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1 });
  const processor = new ShardProcessor({
    captioner: await capfiltModel(blip, MODEL_DIR, 'caption'),
    filter: await capfiltModel(blip, MODEL_DIR, 'match'),
    params: DEFAULT_CAPFILT_PARAMS,
  });
  for (const k of shardKeys) {
    const r = await runShardJob({ input: bucket, inputKey: k, output: bucket, outputPrefix: 'reference', processor, params: DEFAULT_CAPFILT_PARAMS, captionerVersion: blip.version, filterVersion: blip.version });
    undisturbed.set(path.basename(k), (await bucket.get(r.stats.outputKey))!.body);
  }
  await blip.close();
});

afterAll(async () => {
  await stack?.stop();
});

async function waitForRun(runId: string, onPoll?: () => Promise<void>) {
  const client = stack.client();
  const deadline = Date.now() + 280_000;
  for (;;) {
    const run = await client.capfilt.get.query({ runId });
    if (run.state === 'completed' || run.state === 'failed') return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.state} (${run.shardsDone}/${run.shards})`);
    await onPoll?.();
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every output shard visible now is whole: byte-identical to the undisturbed run's. */
async function onlyWholeOutputs(prefix: string): Promise<void> {
  for (const key of await bucket.list(`${prefix}/`)) {
    if (!key.endsWith('.tar')) continue;
    const body = (await bucket.get(key))?.body;
    if (body) expect(body.equals(undisturbed.get(path.basename(key))!), `${key} visible but not whole`).toBe(true);
  }
}

describe('capfilt.run through API, Redis, worker and S3', () => {
  it('survives a worker killed mid-shard: every shard redone whole, identical to an undisturbed run', async () => {
    const client = stack.client();
    const { runId, shards } = await client.capfilt.run.mutate({ input: 's3://user-images/corpus/wds', output: 's3://user-images/out/wds' });
    expect(shards).toBe(5);

    // Kill the worker once it is inside a shard (some batches of it done, not all).
    const shardQueue = `${stack.prefix}:blip-capfilt:`;
    for (;;) {
      const active = await stack.redis.lrange(`${shardQueue}active`, 0, -1);
      const progress = active.length ? await stack.redis.hget(`${shardQueue}${active[0]}`, 'progress') : null;
      const p = progress ? (JSON.parse(progress) as { done: number; total: number }) : null;
      if (p && p.done > 0 && p.done < p.total) break;
      await onlyWholeOutputs('out/wds');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await stack.workers[0]!.stop('SIGKILL')).toBe(-1);
    await onlyWholeOutputs('out/wds');
    await stack.startWorker();

    const run = await waitForRun(runId, () => onlyWholeOutputs('out/wds'));
    expect(run.state).toBe('completed');
    const summary = run.summary as { shards: number; shardsProcessed: number; pairsIn: number; webKept: number };
    expect(summary.shards).toBe(5);
    expect(summary.pairsIn).toBe(500);
    for (const k of shardKeys) {
      const out = (await bucket.get(`out/wds/${path.basename(k)}`))!.body;
      expect(out.equals(undisturbed.get(path.basename(k))!)).toBe(true);
    }
    const summaryObject = JSON.parse((await bucket.get(`out/wds/_runs/${runId}.json`))!.body.toString());
    expect(summaryObject.pairsIn).toBe(500);

    // The filter's decisions against the ground truth: the shipped filter's eval figures.
    const keptWeb = new Set<string>();
    for (const k of shardKeys) {
      const parsed = await readWebDataset((await bucket.get(`out/wds/${path.basename(k)}`))!.body);
      for (const s of parsed.samples) {
        if ((s.meta['capfilt'] as { texts: { source: string }[] }).texts.some((t) => t.source === 'web')) keptWeb.add(s.key);
      }
    }
    const noisy = LABELS.filter((l) => !l.web_clean);
    const clean = LABELS.filter((l) => l.web_clean);
    expect(Math.abs(noisy.filter((l) => !keptWeb.has(l.id)).length / noisy.length - EVAL['capfilt_noise_removed']!)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(clean.filter((l) => keptWeb.has(l.id)).length / clean.length - EVAL['capfilt_clean_kept']!)).toBeLessThanOrEqual(0.01);
  });

  it('a second run processes zero shards; changing one shard reprocesses one', async () => {
    const client = stack.client();
    const again = await waitForRun((await client.capfilt.run.mutate({ input: 's3://user-images/corpus/wds', output: 's3://user-images/out/wds' })).runId);
    expect(again.summary).toMatchObject({ shards: 5, shardsProcessed: 0, shardsSkipped: 5 });

    const third = await bucket.get(shardKeys[3]!);
    const parsed = await readWebDataset(third!.body);
    const first = parsed.samples[0]!;
    await bucket.put(shardKeys[3]!, await tarShard([
      { name: `${first.key}.png`, body: Buffer.from((first.image as { bytes: Uint8Array }).bytes) },
      { name: `${first.key}.txt`, body: Buffer.from('a small red circle') },
    ]));
    const changed = await waitForRun((await client.capfilt.run.mutate({ input: 's3://user-images/corpus/wds', output: 's3://user-images/out/wds' })).runId);
    expect(changed.summary).toMatchObject({ shards: 5, shardsProcessed: 1, shardsSkipped: 4, pairsIn: 401 });
  });

  it('schedules refresh runs (cron with time zone), lists and removes them', async () => {
    const client = stack.client();
    const request = { input: 's3://user-images/corpus/wds', output: 's3://user-images/out/wds' };
    const s = await client.capfilt.schedule.upsert.mutate({ scheduleId: 'nightly', pattern: '*/2 * * * * *', tz: 'Europe/Paris', request });
    expect(s).toMatchObject({ scheduleId: 'nightly', pattern: '*/2 * * * * *', tz: 'Europe/Paris' });
    expect((await client.capfilt.schedule.list.query()).map((x) => x.scheduleId)).toEqual(['nightly']);
    // Another tenant sees none of it.
    expect(await stack.client('globex').capfilt.schedule.list.query()).toEqual([]);

    const deadline = Date.now() + 60_000;
    let scheduled;
    while (!scheduled && Date.now() < deadline) {
      scheduled = (await client.capfilt.runs.query({ limit: 20 })).find((r) => r.scheduleId === 'nightly' && r.state === 'completed');
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(scheduled?.summary).toMatchObject({ shards: 5, shardsProcessed: 0 });
    expect(await client.capfilt.schedule.remove.mutate({ scheduleId: 'nightly' })).toEqual({ removed: true });
    expect(await client.capfilt.schedule.list.query()).toEqual([]);
    await expect(client.capfilt.schedule.upsert.mutate({ scheduleId: 'bad', pattern: 'every night', tz: 'UTC', request })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    await expect(client.capfilt.schedule.upsert.mutate({ scheduleId: 'bad', pattern: '0 3 * * *', tz: 'Mars/Olympus', request })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
  });
});
