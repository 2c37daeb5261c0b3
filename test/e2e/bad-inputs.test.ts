/**
 * Bad input gets its typed error — at the API (a tRPC code and a message a person can act on) or
 * as the failed job's reason — and no worker crashes: the same worker process completes a good
 * job afterwards.
 */
import { randomBytes } from 'node:crypto';
import { createBlipClient } from '@blip-jobs/api/client';
import { S3Storage } from '@blip-jobs/shared/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES, lyingPng } from '../support/samples.js';
import { Stack } from '../support/stack.js';
import { waitForJob } from '../support/wait.js';

let stack: Stack;
const MAX_IMAGE_BYTES = 2 * 1024 * 1024;

beforeAll(async () => {
  stack = await Stack.start({ workers: 1, env: { MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES) } });
  const images = new S3Storage(stack.storage.client, 'user-images');
  await images.put('good.png', SAMPLES[0]!.bytes);
  await images.put('corrupt.png', Buffer.concat([SAMPLES[0]!.bytes.subarray(0, 40), randomBytes(400)]));
  await images.put('notes.txt', 'shopping list: milk, eggs');
  await images.put('huge.png', Buffer.concat([SAMPLES[0]!.bytes, Buffer.alloc(MAX_IMAGE_BYTES)]));
  await images.put('bomb.png', lyingPng(100_000, 100_000));
});

afterAll(async () => {
  await stack?.stop();
});

async function apiError(p: Promise<unknown>): Promise<{ code: string; message: string; data: Record<string, unknown> }> {
  const e = (await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  )) as { message: string; data: { code: string } & Record<string, unknown> };
  return { code: e.data.code, message: e.message, data: e.data };
}

describe('images the worker cannot use fail their own job with a typed reason', () => {
  it.each([
    ['corrupt.png', 'BAD_IMAGE'],
    ['notes.txt', 'BAD_IMAGE'],
    ['huge.png', 'IMAGE_TOO_LARGE'],
    ['bomb.png', 'IMAGE_TOO_LARGE'],
    ['missing.png', 'IMAGE_NOT_FOUND'],
  ])('%s → %s', async (file, code) => {
    const client = stack.client();
    const { jobIds } = await client.caption.submit.mutate({ items: [{ image: `s3://user-images/${file}` }, { image: 's3://user-images/good.png' }] });
    const bad = await waitForJob(client, jobIds[0]!);
    expect(bad.state).toBe('failed');
    expect(bad.failure?.code, JSON.stringify(bad.failure)).toBe(code);
    expect(bad.failure?.message.length).toBeGreaterThan(5);
    // Permanent: failed at once, not retried.
    expect(bad.attemptsMade).toBeLessThanOrEqual(1);
    const good = await waitForJob(client, jobIds[1]!);
    expect(good.state).toBe('completed');
    expect((await apiError(client.jobs.result.query({ jobId: jobIds[0]! }))).message).toMatch(new RegExp(code));
  });

  it('left the worker process running', () => {
    expect(stack.workers[0]!.child.exitCode).toBeNull();
  });
});

describe('the API refuses bad requests with a code and an actionable message', () => {
  it('inline bytes that are not an image', async () => {
    const e = await apiError(stack.client().caption.submit.mutate({ items: [{ image: { base64: Buffer.from('hello, world').toString('base64') } }] }));
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.message).toMatch(/not an image/i);
  });

  it('an empty or a 10 kB question', async () => {
    const client = stack.client();
    const empty = await apiError(client.vqa.submit.mutate({ items: [{ image: 's3://user-images/good.png', question: '' }] }));
    expect(empty.code).toBe('BAD_REQUEST');
    expect(empty.message).toMatch(/question must not be empty/);
    const long = await apiError(client.vqa.submit.mutate({ items: [{ image: 's3://user-images/good.png', question: 'why '.repeat(2500) }] }));
    expect(long.code).toBe('BAD_REQUEST');
    expect(long.message).toMatch(/question is longer than 300 characters/);
  });

  it.each(['https://127.0.0.1/x.png', 'https://10.0.0.7/x.png', 'https://169.254.169.254/latest/meta-data/', 'https://[::1]/x.png', 'https://localhost/x.png'])(
    'a private-address URL: %s',
    async (url) => {
      const e = await apiError(stack.client().caption.submit.mutate({ items: [{ image: url }] }));
      expect(e.code).toBe('BAD_REQUEST');
      expect(e.message).toMatch(/private|loopback|link-local|metadata|localhost/i);
    },
  );

  it('an unknown job id, and another tenant’s job, batch and result', async () => {
    const acme = stack.client('acme');
    const globex = stack.client('globex');
    expect((await apiError(acme.jobs.get.query({ jobId: 'caption-0000000000000000' }))).code).toBe('NOT_FOUND');
    const { jobIds, batchId } = await acme.caption.submit.mutate({ items: [{ image: 's3://user-images/good.png' }] });
    await waitForJob(acme, jobIds[0]!);
    const missing = await apiError(globex.jobs.get.query({ jobId: 'caption-0000000000000000' }));
    const foreign = await apiError(globex.jobs.get.query({ jobId: jobIds[0]! }));
    expect(foreign.code).toBe('NOT_FOUND');
    // Indistinguishable from a job that does not exist.
    expect(foreign.message.replace(jobIds[0]!, 'ID')).toBe(missing.message.replace('caption-0000000000000000', 'ID'));
    expect((await apiError(globex.jobs.result.query({ jobId: jobIds[0]! }))).code).toBe('NOT_FOUND');
    expect((await apiError(globex.batches.get.query({ batchId }))).code).toBe('NOT_FOUND');
    expect((await apiError(globex.jobs.cancel.mutate({ jobId: jobIds[0]! }))).code).toBe('NOT_FOUND');
  });

  it('no key or a wrong key', async () => {
    const anon = createBlipClient({ url: stack.apiUrl, apiKey: 'not-a-key' });
    const e = await apiError(anon.caption.submit.mutate({ items: [{ image: 's3://user-images/good.png' }] }));
    expect(e.code).toBe('UNAUTHORIZED');
  });

  it('left the worker process running', () => {
    expect(stack.workers[0]!.child.exitCode).toBeNull();
  });
});
