/**
 * `npm run demo`: the whole system on one machine with embedded defaults — Redis (REDIS_URL if it
 * answers, else a redis-server started here on a free port, persisting under ./data/redis), files
 * under ./data, the bundled tiny model, the API and one worker. It submits the bundled samples
 * (captions, questions, a filter pass), prints results as they complete, then serves the page
 * until Ctrl-C and shuts everything down in order.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBlipClient, type BlipClient } from '@blip-jobs/api/client';
import { exactCaptionMatch, type ShapesScene } from '@blip-jobs/shared/testing';
import { MultiBar, Presets } from 'cli-progress';
import { Redis } from 'ioredis';
import { Supervisor } from './supervisor.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Everything the demo writes (storage, Redis AOF, logs); DEMO_DATA_DIR moves it (tests). */
const DATA = path.resolve(ROOT, process.env['DEMO_DATA_DIR'] ?? 'data');
const SAMPLES_DIR = path.join(ROOT, 'datasets', 'shapes-samples');
const DEMO_KEY = 'demo-key';
const ADMIN_KEY = process.env['ADMIN_KEY'] ?? 'demo-admin';

interface Sample {
  file: string;
  caption: string;
  scene: ShapesScene;
  questions: [string, string][];
}

async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function freePort(preferred?: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(null));
      srv.listen(port, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === 'object' && a ? a.port : null));
      });
    });
  return (preferred !== undefined ? await tryListen(preferred) : null) ?? (await tryListen(0)) ?? 0;
}

function findRedisServer(): string | null {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin', '/opt/homebrew/bin']) {
    const p = path.join(dir, 'redis-server');
    if (dir && existsSync(p)) return p;
  }
  return null;
}

async function startRedis(sup: Supervisor): Promise<string> {
  const preferred = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(preferred)) {
    console.log(`Redis: ${preferred} answers; using it.`);
    return preferred;
  }
  const bin = findRedisServer();
  if (!bin) {
    throw new Error(
      `no Redis at ${preferred} and no redis-server to start one. Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running server.`,
    );
  }
  const port = await freePort();
  const dir = path.join(DATA, 'redis');
  execFileSync('mkdir', ['-p', dir]);
  // AOF under ./data: jobs still queued at Ctrl-C are there at the next `npm run demo`.
  sup.start('redis', bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''], process.env);
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await redisAnswers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisAnswers(url))) throw new Error(`redis-server did not answer on ${url}; see data/logs/redis.log`);
  console.log(`Redis: started ${bin} on ${url} (data in ${path.relative(ROOT, dir) || dir}).`);
  return url;
}

/** xs[i], which the caller knows exists (the API returns one job id per item, in order). */
function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`index ${i} out of range (${xs.length})`);
  return x;
}

type Expect = { kind: 'caption'; sample: Sample } | { kind: 'vqa'; sample: Sample; question: string; answer: string } | { kind: 'filter'; sample: Sample; text: string; truth: boolean };

async function submitSamples(client: BlipClient): Promise<Map<string, Expect>> {
  const samples = JSON.parse(readFileSync(path.join(SAMPLES_DIR, 'samples.json'), 'utf8')) as Sample[];
  const image = (s: Sample) => ({ base64: readFileSync(path.join(SAMPLES_DIR, s.file)).toString('base64') });
  const expectations = new Map<string, Expect>();
  const captions = await client.caption.submit.mutate({ items: samples.map((s) => ({ image: image(s) })) });
  captions.jobIds.forEach((id, i) => expectations.set(id, { kind: 'caption', sample: at(samples, i) }));
  const asked = samples.slice(0, 6).flatMap((s) => s.questions.slice(0, 2).map(([q, a]) => ({ s, q, a })));
  const vqa = await client.vqa.submit.mutate({ items: asked.map(({ s, q }) => ({ image: image(s), question: q })) });
  vqa.jobIds.forEach((id, i) => {
    const { s, q, a } = at(asked, i);
    expectations.set(id, { kind: 'vqa', sample: s, question: q, answer: a });
  });
  const pairs = samples.slice(0, 6).flatMap((s, i) => [
    { s, text: s.caption, truth: true },
    { s, text: at(samples, (i + 7) % samples.length).caption, truth: false },
  ]);
  const filter = await client.filter.submit.mutate({ items: pairs.map((p) => ({ image: image(p.s), text: p.text })) });
  filter.jobIds.forEach((id, i) => {
    const p = at(pairs, i);
    expectations.set(id, { kind: 'filter', sample: p.s, text: p.text, truth: p.truth });
  });
  return expectations;
}

function describeResult(e: Expect, output: Record<string, unknown>): string {
  const ok = (b: boolean) => (b ? '✓' : '✗');
  if (e.kind === 'caption') {
    const text = (output['captions'] as { text: string }[])[0]?.text ?? '';
    return `${e.sample.file}  caption: "${text}"  ${ok(exactCaptionMatch(text, e.sample.scene))} (truth: "${e.sample.caption}")`;
  }
  if (e.kind === 'vqa') return `${e.sample.file}  ${e.question} → ${String(output['answer'])}  ${ok(output['answer'] === e.answer)} (truth: ${e.answer})`;
  const itm = output['itm'] as number;
  return `${e.sample.file}  "${e.text}" → ITM ${itm.toFixed(3)} ${output['keep'] ? 'keep' : 'drop'}  ${ok(Boolean(output['keep']) === e.truth)}`;
}

async function followJobs(client: BlipClient, expectations: Map<string, Expect>): Promise<number> {
  // A live bar on a terminal; plain lines when piped (CI logs), where a bar cannot redraw.
  const tty = Boolean(process.stdout.isTTY);
  const bars = tty ? new MultiBar({ format: ' {bar} {value}/{total} jobs done', hideCursor: true, clearOnComplete: false }, Presets.shades_classic) : null;
  const bar = bars?.create(expectations.size, 0);
  let done = 0;
  const log = (line: string) => (bars ? bars.log(`${line}\n`) : console.log(`[${done}/${expectations.size}] ${line}`));
  const pending = new Set(expectations.keys());
  let right = 0;
  while (pending.size) {
    for (const jobId of [...pending]) {
      const job = await client.jobs.get.query({ jobId });
      if (job.state === 'completed') {
        const result = (await client.jobs.result.query({ jobId })) as { output: Record<string, unknown> };
        const expected = expectations.get(jobId);
        if (!expected) continue;
        const line = describeResult(expected, result.output);
        if (line.includes('✓')) right++;
        done++;
        log(line);
      } else if (job.state === 'failed') {
        done++;
        log(`${jobId} failed: ${job.failure?.code} ${job.failure?.message}`);
      } else continue;
      pending.delete(jobId);
      bar?.increment();
    }
    if (pending.size) await new Promise((r) => setTimeout(r, 300));
  }
  bars?.stop();
  return right;
}

async function main(): Promise<void> {
  const sup = new Supervisor(path.join(DATA, 'logs'));
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping: worker (finishing its batch), API, Redis…');
    await sup.stopAll();
    console.log(`Stopped. Queued jobs stay in Redis; results stay in ${path.relative(ROOT, path.join(DATA, 'storage'))}.`);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    const redisUrl = await startRedis(sup);
    const apiPort = await freePort(Number(process.env['API_PORT'] ?? 3000));
    const workerPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: process.env['QUEUE_PREFIX'] ?? 'blip-demo',
      STORAGE_URL: process.env['STORAGE_URL'] ?? path.join(DATA, 'storage'),
      MODEL_DIR: process.env['MODEL_DIR'] ?? path.join(ROOT, 'models', 'blip-tiny-shapes'),
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      API_KEYS: process.env['API_KEYS'] ?? `demo:${DEMO_KEY}`,
      DEMO_API_KEY: DEMO_KEY,
      ADMIN_KEY,
      WEB_EXAMPLES_DIR: SAMPLES_DIR,
      WORKER_HTTP_PORT: String(workerPort),
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
    };
    const api = sup.startNode('api', path.join(ROOT, 'apps/api/src/main.ts'), env);
    const worker = sup.startNode('worker', path.join(ROOT, 'apps/gpu-worker/src/main.ts'), env);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await sup.waitReady('api', api, `${apiUrl}/health/ready`);
    await sup.waitReady('worker', worker, `http://127.0.0.1:${workerPort}/health/ready`);
    console.log(`API and worker ready (logs in ${path.relative(ROOT, path.join(DATA, 'logs'))}). Submitting the bundled samples…\n`);

    const client = createBlipClient({ url: apiUrl, apiKey: DEMO_KEY });
    const expectations = await submitSamples(client);
    const right = await followJobs(client, expectations);
    console.log(`\n${right} of ${expectations.size} results match the ground truth (the tiny model's accuracy is in models/blip-tiny-shapes/eval.json).`);
    console.log(`\n  Page:       ${apiUrl}/          (API key ${DEMO_KEY} is filled in)`);
    console.log(`  Dashboard:  ${apiUrl}/admin/queues   (user anything, password ${ADMIN_KEY})`);
    console.log(`  Metrics:    ${apiUrl}/metrics\n\nCtrl-C stops everything.`);
    if (process.argv.includes('--exit')) await stop(0);
  } catch (err) {
    console.error(`demo failed: ${(err as Error).message}`);
    await stop(1);
  }
}

await main();
