import { LIMITS, queueName, type JobData } from '@blip-jobs/shared';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG, startTestApi, type TestApi } from './test-support.js';

let t: TestApi;

beforeAll(async () => {
  t = await startTestApi();
});

afterAll(async () => {
  await t?.stop();
});

/** The job as BullMQ stored it: raw Redis hash. */
async function rawJob(task: string, jobId: string): Promise<Record<string, string>> {
  return t.redis.hgetall(`${t.prefix}:${queueName(task as never)}:${jobId}`);
}

async function refusal(p: Promise<unknown>): Promise<TRPCClientError<any>> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(TRPCClientError);
  return err as TRPCClientError<any>;
}

describe('submit', () => {
  it('enqueues one item (shorthand) into its task queue with the job contract', async () => {
    const res = await t.client().caption.submit.mutate({ item: { image: 's3://user-images/a/b.png' }, options: { mode: 'greedy' } });
    expect(res.batchId).toMatch(/^b-[0-9a-f]{32}$/);
    expect(res.jobIds).toHaveLength(1);
    expect(res.jobIds[0]).toMatch(/^caption-[0-9a-f]{32}$/);
    const job = await t.api.services.queues.get('caption').getJob(res.jobIds[0]!);
    const data = job!.data as JobData;
    expect(data).toMatchObject({
      task: 'caption',
      tenant: 'acme',
      batchId: res.batchId,
      index: 0,
      image: { kind: 's3', bucket: 'user-images', key: 'a/b.png' },
      options: { mode: 'greedy', numCaptions: 1, seed: 0 },
    });
    expect(job!.opts.attempts).toBe(t.config.JOB_ATTEMPTS);
    expect(job!.opts.backoff).toEqual({ type: 'exponential', delay: t.config.JOB_BACKOFF_MS });
    expect(job!.opts.removeOnComplete).toEqual({ age: t.config.JOB_RETENTION_DAYS * 86_400 });
    const batch = await t.client().batches.get.query({ batchId: res.batchId });
    expect(batch).toMatchObject({ total: 1, pending: 1, task: 'caption', counts: { completed: 0, failed: 0, cancelled: 0 } });
  });

  it('enqueues a batch of every task, in item order, with priorities', async () => {
    const c = t.client();
    const vqa = await c.vqa.submit.mutate({
      items: [
        { image: 'https://images.example.com/1.png', question: '  what color is the circle? ' },
        { image: 's3://bkt/2.png', question: 'how many shapes?' },
      ],
      options: { mode: 'rank', candidates: ['red', 'blue'] },
      priority: 5,
    });
    const filter = await c.filter.submit.mutate({ items: [{ image: 's3://bkt/1.png', text: 'a red circle' }] });
    const embed = await c.embed.submit.mutate({ items: [{ image: 's3://bkt/1.png' }, { text: 'a red circle' }] });
    const jobs = await Promise.all(vqa.jobIds.map((id) => t.api.services.queues.get('vqa').getJob(id)));
    expect(jobs.map((j) => j!.data)).toMatchObject([
      { task: 'vqa', index: 0, question: 'what color is the circle?', image: { kind: 'url', url: 'https://images.example.com/1.png' }, options: { mode: 'rank' } },
      { task: 'vqa', index: 1, question: 'how many shapes?', image: { kind: 's3', bucket: 'bkt', key: '2.png' } },
    ]);
    expect(await jobs[0]!.getState()).toBe('prioritized');
    expect(jobs[0]!.opts.priority).toBe(5);
    expect((await t.api.services.queues.get('filter').getJob(filter.jobIds[0]!))!.data).toMatchObject({ task: 'filter', text: 'a red circle', options: { threshold: 0.5 } });
    const [img, txt] = await Promise.all(embed.jobIds.map((id) => t.api.services.queues.get('embed').getJob(id)));
    expect(img!.data).toMatchObject({ task: 'embed', image: { kind: 's3' } });
    expect(txt!.data).toMatchObject({ task: 'embed', text: 'a red circle' });
    expect(txt!.data).not.toHaveProperty('image');
  });

  it('stores inline images and enqueues only their key: no image bytes in Redis', async () => {
    const image = Buffer.concat([PNG, Buffer.alloc(4000, 7)]);
    const res = await t.client().caption.submit.mutate({ items: [{ image: { base64: image.toString('base64') } }, { image: { base64: image.toString('base64') } }] });
    const raw = await rawJob('caption', res.jobIds[0]!);
    const data = JSON.parse(raw['data']!) as JobData & { image: { kind: string; key: string } };
    expect(data.image.kind).toBe('stored');
    expect(data.image.key).toMatch(/^uploads\/acme\/[0-9a-f]{64}\.bin$/);
    expect((await t.storage.get(data.image.key))!.body.equals(image)).toBe(true);
    for (const value of Object.values(raw)) expect(value).not.toContain(image.toString('base64').slice(0, 64));
    // The same bytes twice are one object.
    const other = JSON.parse((await rawJob('caption', res.jobIds[1]!))['data']!) as typeof data;
    expect(other.image.key).toBe(data.image.key);
  });

  it('returns the same batch for the same idempotency key and adds no job', async () => {
    const c = t.client();
    const items = [{ image: 's3://bkt/1.png' }, { image: 's3://bkt/2.png' }];
    const before = await t.api.services.queues.counts('caption');
    const first = await c.caption.submit.mutate({ items, idempotencyKey: 'nightly-2026-11-28' });
    const again = await c.caption.submit.mutate({ items, idempotencyKey: 'nightly-2026-11-28' });
    expect(again).toEqual(first);
    expect(first.batchId).toMatch(/^b-[0-9a-f]{24}$/);
    expect(first.jobIds[0]).toMatch(/^caption-[0-9a-f]{32}$/);
    const after = await t.api.services.queues.counts('caption');
    expect(after.waiting - before.waiting).toBe(2);
    expect(await t.batches.queued('acme')).toBeGreaterThanOrEqual(2);
    const batch = await c.batches.get.query({ batchId: first.batchId });
    expect(batch.total).toBe(2);
    // Another tenant's identical key is another batch; the same key for another count is a conflict.
    const globex = await t.client('globex').caption.submit.mutate({ items, idempotencyKey: 'nightly-2026-11-28' });
    expect(globex.batchId).not.toBe(first.batchId);
    const conflict = await refusal(c.caption.submit.mutate({ items: [items[0]!], idempotencyKey: 'nightly-2026-11-28' }));
    expect(conflict.data?.code).toBe('CONFLICT');
  });

  it('pages through a batch\'s job ids', async () => {
    const res = await t.client().caption.submit.mutate({ items: Array.from({ length: 5 }, (_, i) => ({ image: `s3://bkt/${i}.png` })) });
    const p1 = await t.client().batches.jobs.query({ batchId: res.batchId, limit: 3 });
    expect(p1).toEqual({ jobIds: res.jobIds.slice(0, 3), nextCursor: 3 });
    const p2 = await t.client().batches.jobs.query({ batchId: res.batchId, cursor: 3, limit: 3 });
    expect(p2).toEqual({ jobIds: res.jobIds.slice(3), nextCursor: null });
  });
});

describe('submit refuses with messages a person can act on', () => {
  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    ['an empty question', () => t.client().vqa.submit.mutate({ items: [{ image: 's3://bkt/k', question: '   ' }] }), 'BAD_REQUEST', /^items\.0\.question: question must not be empty$/],
    [
      'a 10 kB question',
      () => t.client().vqa.submit.mutate({ items: [{ image: 's3://bkt/k', question: 'ok?' }, { image: 's3://bkt/k', question: 'x'.repeat(10_000) }] }),
      'BAD_REQUEST',
      new RegExp(`^items\\.1\\.question: question is longer than ${LIMITS.maxQuestionChars} characters$`),
    ],
    [
      'a batch over the limit',
      () => t.client().caption.submit.mutate({ items: Array.from({ length: LIMITS.maxBatchItems + 1 }, () => ({ image: 's3://bkt/k' })) }),
      'BAD_REQUEST',
      /^items: 1001 items is more than the 1000 allowed per call; split them into several batches$/,
    ],
    ['an empty batch', () => t.client().caption.submit.mutate({ items: [] }), 'BAD_REQUEST', /^items: items must not be empty$/],
    ['a bad image reference', () => t.client().caption.submit.mutate({ items: [{ image: 'ftp://x/y.png' }] }), 'BAD_REQUEST', /^items\.0\.image: image must be s3:\/\/bucket\/key, an https:\/\/ URL/],
    ['a number as image', () => t.client().caption.submit.mutate({ items: [{ image: 42 as never }] }), 'BAD_REQUEST', /^items\.0\.image: image must be .* or \{base64\}$/],
    ['an http:// URL', () => t.client().caption.submit.mutate({ items: [{ image: 'http://example.com/a.png' }] }), 'BAD_REQUEST', /^items\.0\.image: image must be s3:\/\/bucket\/key, an https:\/\/ URL/],
    ['a metadata-address URL', () => t.client().caption.submit.mutate({ items: [{ image: 'https://169.254.169.254/latest/meta-data/' }] }), 'BAD_REQUEST', /^items\.0\.image: image URLs must name a public host: 169\.254\.169\.254 is a private/],
    ['a private-address URL', () => t.client().caption.submit.mutate({ items: [{ image: 's3://bkt/ok.png' }, { image: 'https://10.1.2.3/a.png' }] }), 'BAD_REQUEST', /^items\.1\.image: .*10\.1\.2\.3 is a private/],
    ['a localhost URL', () => t.client().caption.submit.mutate({ items: [{ image: 'https://localhost:8080/a.png' }] }), 'BAD_REQUEST', /localhost is not reachable/],
    ['a loopback URL in another spelling', () => t.client().caption.submit.mutate({ items: [{ image: 'https://0x7f000001/a.png' }] }), 'BAD_REQUEST', /127\.0\.0\.1 is a private/],
    ['an IPv6 loopback URL', () => t.client().caption.submit.mutate({ items: [{ image: 'https://[::1]/a.png' }] }), 'BAD_REQUEST', /::1 is a private/],
    [
      'an inline non-image',
      () => t.client().caption.submit.mutate({ items: [{ image: { base64: Buffer.from('hello, this is text').toString('base64') } }] }),
      'BAD_REQUEST',
      /^items\.0\.image\.base64: not an image/,
    ],
    [
      'an inline image over the schema limit',
      () => t.client().caption.submit.mutate({ items: [{ image: { base64: Buffer.alloc(LIMITS.maxInlineImageBytes + 3000).toString('base64') } }] }),
      'BAD_REQUEST',
      /^items\.0\.image\.base64: inline images are limited to 524288 bytes; upload bigger ones with uploads\.create$/,
    ],
    ['an unknown option', () => t.client().caption.submit.mutate({ items: [{ image: 's3://bkt/k' }], options: { beams: 3 } as never }), 'BAD_REQUEST', /^options: Unrecognized key: "beams"$/],
    ['both items and item', () => t.client().caption.submit.mutate({ items: [{ image: 's3://bkt/k' }], item: { image: 's3://bkt/k' } }), 'BAD_REQUEST', /give items \(an array\) or item/],
    ['an upload id of another tenant', () => t.client().caption.submit.mutate({ items: [{ image: 'upload:uploads/globex/x.png' }] }), 'NOT_FOUND', /^items\.0\.image: upload:uploads\/globex\/x\.png not found: create it with uploads\.create/],
    ['a missing upload', () => t.client().caption.submit.mutate({ items: [{ image: 'upload:uploads/acme/nothing' }] }), 'NOT_FOUND', /not found/],
    ['an embed item with both fields', () => t.client().embed.submit.mutate({ items: [{ image: 's3://bkt/k', text: 'x' } as never] }), 'BAD_REQUEST', /^items\.0: an embed item is \{ image \} or \{ text \}/],
  ];

  it.each(cases)('%s', async (_name, call, code, message) => {
    const before = await t.api.services.queues.counts('caption');
    const err = await refusal(call());
    expect(err.data?.code).toBe(code);
    expect(err.message).toMatch(message);
    const issues = err.data?.issues as { path: string; message: string }[];
    expect(issues.length).toBeGreaterThan(0);
    expect(err.message).toContain(issues[0]!.message);
    expect((await t.api.services.queues.counts('caption')).waiting).toBe(before.waiting);
  });
});
