/**
 * The `blip` CLI as a user runs it, a child process against a real stack (API and worker
 * processes, Redis, s3rver): local files are uploaded, captioned and answered exactly as
 * libs/med-model does in process; output formats and exit codes hold.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Blip, type Caption } from '@blip-jobs/med-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';
import { SAMPLES } from '../support/samples.js';
import { MODEL_DIR, Stack, TENANTS } from '../support/stack.js';

const SAMPLES_DIR = 'datasets/shapes-samples';

let stack: Stack;
let blip: Blip;
let tmp: string;
let expectedCaptions: Caption[][];

beforeAll(async () => {
  [stack, blip, tmp] = await Promise.all([
    Stack.start({ workers: 1 }),
    Blip.open(MODEL_DIR, { intraOpNumThreads: 1, transferInputs: false }),
    mkdtemp(path.join(tmpdir(), 'blip-cli-e2e-')),
  ]);
  expectedCaptions = await blip.caption(
    SAMPLES.map((s) => s.bytes),
    { mode: 'beam' },
  );
});

afterAll(async () => {
  await blip?.close();
  await stack?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `blip …` from the repository root; `onStderr` sees stderr as it arrives and may signal the child. */
function blipCli(args: string[], opts: { key?: string; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args, '--api', stack.apiUrl, '--key', opts.key ?? TENANTS.acme], {
    cwd: REPO_ROOT,
    env: { ...process.env, BLIP_API_URL: '', BLIP_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    opts.onStderr?.(stderr, child);
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const sampleIndex = (file: string) => SAMPLES.findIndex((s) => s.file === path.basename(file));
const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('blip caption', () => {
  it('uploads a directory of images and writes the in-process beam captions to --out', async () => {
    const out = path.join(tmp, 'results.jsonl');
    const r = await blipCli(['caption', `${SAMPLES_DIR}/`, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    // samples.json sits next to the PNGs.
    expect(r.stderr).toContain('skipped 1 non-image file');
    expect(r.stdout).toMatch(/^12 of 12 captioned → .*results\.jsonl \(batch b-\S+\)\n$/);

    const lines = jsonLines(await readFile(out, 'utf8'));
    expect(lines).toHaveLength(12);
    expect(lines.map((l) => l.input)).toEqual(SAMPLES.map((s) => `${SAMPLES_DIR}/${s.file}`));
    for (const line of lines) {
      expect(line.state).toBe('completed');
      expect(line.jobId).toMatch(/^caption-/);
      expect(line.captions).toHaveLength(1);
      expect(line.captions[0].text).toBe(expectedCaptions[sampleIndex(line.input)]![0]!.text);
    }

    // `blip jobs` shows one of them, with its caption.
    const job = await blipCli(['jobs', lines[3].jobId]);
    expect(job.code, job.stderr).toBe(0);
    expect(job.stdout).toContain(`${lines[3].jobId}  completed`);
    expect(job.stdout).toContain(expectedCaptions[3]![0]!.text);
  });

  it('--json prints one parseable line per input on stdout', async () => {
    const files = [`${SAMPLES_DIR}/sample-05.png`, `${SAMPLES_DIR}/sample-07.png`];
    const r = await blipCli(['caption', ...files, '--json', '--captions', '2', '--beam', '4']);
    expect(r.code, r.stderr).toBe(0);
    const expected = await blip.caption([SAMPLES[5]!.bytes, SAMPLES[7]!.bytes], { mode: 'beam', numBeams: 4, numCaptions: 2 });
    const lines = jsonLines(r.stdout);
    expect(lines.map((l) => l.input)).toEqual(files);
    lines.forEach((l, i) => expect(l.captions.map((c: { text: string }) => c.text)).toEqual(expected[i]!.map((c) => c.text)));

    // The batch is done: `watch --json` prints its final state once.
    const batchId = /batch (b-\S+)\)/.exec(r.stderr)?.[1];
    const watch = await blipCli(['watch', batchId!, '--json']);
    expect(watch.code, watch.stderr).toBe(0);
    expect(jsonLines(watch.stdout)).toEqual([expect.objectContaining({ batchId, total: 2, pending: 0, counts: { completed: 2, failed: 0, cancelled: 0 } })]);
  });
});

describe('blip ask and filter', () => {
  it('answers like the in-process generate mode', async () => {
    const [question] = SAMPLES[3]!.questions[0]!;
    const [expected] = await blip.answer([SAMPLES[3]!.bytes], [{ image: 0, question }], { mode: 'generate' });
    const r = await blipCli(['ask', `${SAMPLES_DIR}/sample-03.png`, question]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${expected!.answer}  (score ${expected!.score.toFixed(3)})\n`);
  });

  it('scores pairs from a JSON Lines file like the in-process ITM', async () => {
    const pairs = path.join(tmp, 'pairs.jsonl');
    const abs = path.join(REPO_ROOT, SAMPLES_DIR, SAMPLES[0]!.file);
    await writeFile(pairs, [{ image: abs, text: SAMPLES[0]!.caption }, { image: abs, text: SAMPLES[1]!.caption }].map((p) => JSON.stringify(p)).join('\n'));
    const expected = await blip.match(
      [SAMPLES[0]!.bytes],
      [
        { image: 0, text: SAMPLES[0]!.caption },
        { image: 0, text: SAMPLES[1]!.caption },
      ],
    );
    const r = await blipCli(['filter', pairs, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    lines.forEach((l, i) => {
      expect(l.itm).toBeCloseTo(expected[i]!.itm, 5);
      expect(l.keep).toBe(expected[i]!.itm >= 0.5);
    });
  });
});

describe('errors and status', () => {
  it('exits 3 when the key is refused', async () => {
    const r = await blipCli(['queues', '--once'], { key: 'not-a-key' });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('blip: the API refused the key: invalid API key (set --key or BLIP_API_KEY)\n');
  });

  it('exits 2 with the API message, which names the field, on an empty question', async () => {
    const r = await blipCli(['ask', `${SAMPLES_DIR}/sample-00.png`, '']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('blip: items.0.question: question must not be empty\n');
  });

  it('queues --once --json prints the stats as JSON', async () => {
    const r = await blipCli(['queues', '--once', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const stats = JSON.parse(r.stdout);
    expect(stats.queues.map((q: { task: string }) => q.task)).toEqual(['caption', 'vqa', 'filter', 'embed']);
    expect(stats.liveWorkers).toBe(1);
  });

  // Last: it stops the worker, so the batch cannot finish while the CLI waits.
  it('on Ctrl-C while waiting, exits 130 with the watch command and cancels nothing', async () => {
    await stack.workers[0]!.stop('SIGTERM');
    let interrupted = false;
    const r = await blipCli(['caption', `${SAMPLES_DIR}/sample-01.png`], {
      onStderr: (text, child) => {
        if (text.includes('waiting…') && !interrupted) interrupted = child.kill('SIGINT');
      },
    });
    expect(r.code, r.stderr).toBe(130);
    const batchId = /batch (b-\S+)\)/.exec(r.stderr)?.[1];
    expect(r.stderr).toContain(`  blip watch ${batchId} --api ${stack.apiUrl}\n`);
    const batch = await stack.client().batches.get.query({ batchId: batchId! });
    expect(batch).toMatchObject({ total: 1, pending: 1, counts: { cancelled: 0 } });
  });
});
