import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, PNG, TENANTS, startTestApi, type TestApi } from './test-support.js';

let t: TestApi;

beforeAll(async () => {
  t = await startTestApi({ MAX_IMAGE_BYTES: '5000' });
});

afterAll(async () => {
  await t?.stop();
});

const basic = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;

describe('uploads', () => {
  it('create a URL, take a PUT there, and submit the upload by id', async () => {
    const acme = t.client('acme');
    const ticket = await acme.uploads.create.mutate({ contentType: 'image/png', bytes: PNG.length });
    expect(ticket.uploadId).toMatch(/^upload:uploads\/acme\/[0-9a-f-]{36}$/);
    expect(ticket.method).toBe('PUT');
    expect(ticket.url.startsWith(`${t.url}/uploads/`)).toBe(true);
    expect(ticket.expiresAt).toBeGreaterThan(Date.now());

    // Not uploaded yet: refused as missing.
    await expect(acme.caption.submit.mutate({ items: [{ image: ticket.uploadId }] })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    const put = await fetch(ticket.url, { method: 'PUT', body: PNG, headers: { 'content-type': 'image/png' } });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ uploadId: ticket.uploadId, size: PNG.length });
    const key = ticket.uploadId.slice('upload:'.length);
    expect((await t.storage.get(key))!.body.equals(PNG)).toBe(true);

    const { jobIds } = await acme.caption.submit.mutate({ items: [{ image: ticket.uploadId }] });
    const job = await t.api.services.queues.get('caption').getJob(jobIds[0]!);
    expect(job!.data).toMatchObject({ image: { kind: 'stored', key } });
    // Another tenant cannot use it.
    await expect(t.client('globex').caption.submit.mutate({ items: [{ image: ticket.uploadId }] })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
  });

  it('refuse a tampered or forged token with 403', async () => {
    const ticket = await t.client('acme').uploads.create.mutate({});
    const token = ticket.url.slice(ticket.url.lastIndexOf('/') + 1);
    const [payload, mac] = token.split('.');
    const otherKey = Buffer.from(Buffer.from(payload!, 'base64url').toString().replace('uploads/acme/', 'uploads/globex/')).toString('base64url');
    for (const bad of [`${otherKey}.${mac}`, `${payload}.${mac!.slice(0, -2)}AA`, 'nonsense']) {
      const res = await fetch(`${t.url}/uploads/${bad}`, { method: 'PUT', body: PNG });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toMatch(/invalid or has expired/);
    }
  });

  it('refuse images over MAX_IMAGE_BYTES, when asked for a URL and when PUT', async () => {
    const acme = t.client('acme');
    await expect(acme.uploads.create.mutate({ bytes: 5001 })).rejects.toMatchObject({ data: { code: 'PAYLOAD_TOO_LARGE' }, message: 'bytes: an image may have at most 5000 bytes' });
    await expect(acme.uploads.create.mutate({ contentType: 'text/html' })).rejects.toMatchObject({ data: { code: 'BAD_REQUEST' } });
    const ticket = await acme.uploads.create.mutate({});
    const res = await fetch(ticket.url, { method: 'PUT', body: Buffer.alloc(6000) });
    expect(res.status).toBe(413);
    // Streamed without a length: cut off at the limit too.
    const chunks = [Buffer.alloc(3000), Buffer.alloc(3000)];
    const streamed = await fetch(ticket.url, {
      method: 'PUT',
      body: new ReadableStream({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()!) : c.close()) }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await t.storage.head(ticket.uploadId.slice('upload:'.length))).toBeNull();
  });
});

describe('operator endpoints', () => {
  it('/metrics needs the admin key and shows requests, submissions and queue depth', async () => {
    await t.client('acme').embed.submit.mutate({ items: [{ text: 'x' }, { text: 'y' }] });
    await t.client('acme').embed.submit.mutate({ items: [{ text: '' }] }).catch(() => undefined);
    expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TENANTS.acme}` } })).status).toBe(401);
    const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^blip_api_jobs_submitted_total\{task="embed"\} 2$/m);
    expect(text).toMatch(/^blip_api_submissions_rejected_total\{task="embed",reason="invalid"\} 1$/m);
    expect(text).toMatch(/^blip_api_trpc_calls_total\{procedure="embed\.submit",code="OK"\} \d+$/m);
    expect(text).toMatch(/^blip_api_trpc_call_duration_seconds_count\{procedure="embed\.submit",code="BAD_REQUEST"\} 1$/m);
    expect(text).toMatch(/^blip_queue_jobs\{queue="blip-embed",state="waiting"\} 2$/m);
    expect(text).toMatch(/^blip_queue_jobs\{queue="blip-caption",state="prioritized"\} 0$/m);
    expect(text).toMatch(/^blip_api_http_requests_total\{method="POST",route="\/trpc",status="200"\} \d+$/m);
  });

  it('/admin/queues needs the admin key (basic auth for browsers, or Bearer)', async () => {
    const anon = await fetch(`${t.url}/admin/queues`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await fetch(`${t.url}/admin/queues`, { headers: { authorization: basic('wrong') } })).status).toBe(401);
    const page = await fetch(`${t.url}/admin/queues`, { headers: { authorization: basic(ADMIN_KEY) } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const api = await fetch(`${t.url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['blip-caption', 'blip-embed', 'blip-filter', 'blip-vqa']);
  });

  it('health: live always, ready when Redis and storage answer; no key needed', async () => {
    const live = await fetch(`${t.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { redis: 'ok', storage: 'ok' } });
    const anon = t.client('acme');
    expect(await anon.health.ready.query()).toEqual({ ready: true, checks: { redis: 'ok', storage: 'ok' } });
  });
});
