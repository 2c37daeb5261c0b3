import { queueName } from '@blip-jobs/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlipClient } from './client.js';
import { PNG, TENANTS, eventually, standInWorker, startTestApi, type TestApi } from './test-support.js';

let t: TestApi;
/** An API with small limits: 5 queued jobs and 4 writes a minute per tenant, 1 kB inline images, 3 items a call. */
let small: TestApi;

beforeAll(async () => {
  [t, small] = await Promise.all([
    startTestApi(),
    startTestApi({ TENANT_MAX_QUEUED_JOBS: '5', TENANT_REQUESTS_PER_MINUTE: '4', MAX_INLINE_IMAGE_BYTES: '1000', MAX_BATCH_ITEMS: '3' }),
  ]);
});

afterAll(async () => {
  await Promise.all([t?.stop(), small?.stop()]);
});

describe('API keys', () => {
  it('are required, with a message saying how to send one', async () => {
    const anon = createBlipClient({ url: t.url, apiKey: '' });
    await expect(anon.caption.submit.mutate({ items: [{ image: 's3://bkt/k.png' }] })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED', httpStatus: 401 },
      message: expect.stringMatching(/missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"/),
    });
    await expect(anon.queues.stats.query()).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    const wrong = createBlipClient({ url: t.url, apiKey: 'not-a-key' });
    await expect(wrong.jobs.get.query({ jobId: 'caption-x' })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' }, message: 'invalid API key' });
    // Health needs none.
    expect(await anon.health.live.query()).toEqual({ status: 'ok' });
  });

  it('are accepted as x-api-key too', async () => {
    const res = await fetch(`${t.url}/trpc/queues.stats`, { headers: { 'x-api-key': TENANTS.globex } });
    expect(res.status).toBe(200);
  });
});

describe('tenant isolation', () => {
  it('hides a job, its batch and its result from other tenants, with the answer a missing id gets', async () => {
    const acme = t.client('acme');
    const globex = t.client('globex');
    const { batchId, jobIds } = await acme.caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }, { image: 's3://bkt/2.png' }] });
    const worker = standInWorker(t, queueName('caption'));
    await eventually(async () => (await acme.batches.get.query({ batchId })).pending === 0);
    await worker.close();
    const jobId = jobIds[0]!;
    expect((await acme.jobs.result.query({ jobId })).jobId).toBe(jobId);

    for (const call of [
      () => globex.jobs.get.query({ jobId }),
      () => globex.jobs.result.query({ jobId }),
      () => globex.jobs.cancel.mutate({ jobId }),
    ]) {
      await expect(call()).rejects.toMatchObject({ data: { code: 'NOT_FOUND' }, message: `job ${jobId} not found` });
    }
    await expect(globex.batches.get.query({ batchId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' }, message: `batch ${batchId} not found` });
    await expect(globex.batches.jobs.query({ batchId })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    // Inline images of one tenant are not another's uploads.
    const mine = await acme.caption.submit.mutate({ items: [{ image: { base64: PNG.toString('base64') } }] });
    const key = ((await t.api.services.queues.get('caption').getJob(mine.jobIds[0]!))!.data as { image: { key: string } }).image.key;
    await expect(globex.caption.submit.mutate({ items: [{ image: `upload:${key}` }] })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    expect((await acme.caption.submit.mutate({ items: [{ image: `upload:${key}` }] })).jobIds).toHaveLength(1);
  });
});

describe('limits', () => {
  it('refuses a batch over the queued-job quota with TOO_MANY_REQUESTS and Retry-After', async () => {
    const acme = small.client('acme');
    await acme.caption.submit.mutate({ items: [1, 2, 3].map((i) => ({ image: `s3://bkt/${i}.png` })) });
    await acme.caption.submit.mutate({ items: [{ image: 's3://bkt/4.png' }] });
    const res = await small.post('caption.submit', { items: [{ image: 's3://bkt/5.png' }, { image: 's3://bkt/6.png' }] });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    const body = (await res.json()) as { error: { message: string; data: { code: string; retryAfterS: number; reason: string } } };
    expect(body.error.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterS: retryAfter, reason: 'quota' });
    expect(body.error.message).toMatch(/this tenant has 4 jobs queued; 2 more would pass its limit of 5/);
    expect(await small.batches.queued('acme')).toBe(4);
  });

  it('refuses writes over the per-minute rate with TOO_MANY_REQUESTS and Retry-After; reads still pass', async () => {
    const globex = small.client('globex');
    for (let i = 0; i < 4; i++) await globex.uploads.create.mutate({});
    const res = await small.post('uploads.create', {}, 'globex');
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    await expect(globex.caption.submit.mutate({ items: [{ image: 's3://bkt/1.png' }] })).rejects.toMatchObject({
      data: { code: 'TOO_MANY_REQUESTS', reason: 'rate', retryAfterS: expect.any(Number) },
      message: expect.stringMatching(/at most 4 per minute/),
    });
    expect((await globex.queues.stats.query()).queues).toHaveLength(4);
  });

  it('applies the configured inline-image and batch limits', async () => {
    // A tenant of its own: the others have spent their writes above.
    const initech = small.client('initech');
    const image = Buffer.concat([PNG, Buffer.alloc(1200)]);
    await expect(initech.caption.submit.mutate({ items: [{ image: { base64: image.toString('base64') } }] })).rejects.toMatchObject({
      data: { code: 'PAYLOAD_TOO_LARGE', issues: [{ path: 'items.0.image.base64' }] },
      message: `items.0.image.base64: inline image is ${image.length} bytes, over the limit of 1000; upload bigger images with uploads.create`,
    });
    await expect(initech.caption.submit.mutate({ items: [1, 2, 3, 4].map((i) => ({ image: `s3://bkt/${i}.png` })) })).rejects.toMatchObject({
      data: { code: 'BAD_REQUEST', issues: [{ path: 'items' }] },
      message: 'items: 4 items is more than the 3 allowed per call; split them into several batches',
    });
  });
});
