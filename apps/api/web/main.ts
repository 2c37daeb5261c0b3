/**
 * The demo page: upload or pick an image, run a caption / VQA / ITM job through the same typed
 * tRPC client every user has, follow it live over SSE, show the result. Bundled for the browser
 * by the API at start-up (esbuild).
 */
import { createBlipClient } from '../src/client.js';

interface PageConfig {
  demoKey: string | null;
  modelVersion: string | null;
  maxUploadBytes: number;
  /** Images up to this size travel inline (base64) in the submit call; bigger ones are uploaded first. */
  maxInlineBytes: number;
  examples: { name: string; url: string }[];
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const drop = $<HTMLDivElement>('drop');
const fileInput = $<HTMLInputElement>('file');
const preview = $<HTMLImageElement>('preview');
const form = $<HTMLFormElement>('task-form');
const runButton = $<HTMLButtonElement>('run');
const statusEl = $<HTMLDivElement>('status');
const resultEl = $<HTMLDivElement>('result');
const errorEl = $<HTMLParagraphElement>('error');
const keyInput = $<HTMLInputElement>('api-key');

let image: { blob: Blob; name: string } | null = null;
const config: PageConfig = await (await fetch('/app/config.json')).json();
keyInput.value = localStorage.getItem('blip-api-key') ?? config.demoKey ?? '';
$('model').textContent = config.modelVersion ?? 'unknown';

function client() {
  localStorage.setItem('blip-api-key', keyInput.value);
  return createBlipClient({ url: location.origin, apiKey: keyInput.value });
}

function showError(message: string | null): void {
  errorEl.hidden = message === null;
  errorEl.textContent = message ?? '';
}

function setImage(blob: Blob, name: string): void {
  showError(null);
  if (!blob.type.startsWith('image/') && blob.type !== '') {
    // Still sent: the server decides what is an image. The message only warns early.
    statusEl.textContent = `${name} does not look like an image (${blob.type}); the server will check it.`;
  }
  if (blob.size > config.maxUploadBytes) {
    showError(`${name} is ${(blob.size / 1e6).toFixed(1)} MB; images are limited to ${(config.maxUploadBytes / 1e6).toFixed(0)} MB.`);
    return;
  }
  image = { blob, name };
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  preview.alt = `Selected image: ${name}`;
  preview.hidden = false;
}

fileInput.addEventListener('change', () => {
  const f = fileInput.files?.[0];
  if (f) setImage(f, f.name);
});
drop.addEventListener('click', () => fileInput.click());
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    fileInput.click();
  }
});
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) setImage(f, f.name);
});

for (const ex of config.examples) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.dataset['example'] = ex.name;
  b.title = `Use example ${ex.name}`;
  const img = document.createElement('img');
  img.src = ex.url;
  img.alt = `Example ${ex.name}`;
  b.append(img);
  b.addEventListener('click', async () => setImage(await (await fetch(ex.url)).blob(), ex.name));
  li.append(b);
  $('examples').append(li);
}

const task = () => (form.elements.namedItem('task') as RadioNodeList).value as 'caption' | 'vqa' | 'filter';
form.addEventListener('change', () => {
  for (const el of form.querySelectorAll<HTMLElement>('[data-for]')) el.hidden = el.dataset['for'] !== task();
});

function setStage(stage: 'queued' | 'running' | 'done' | null): void {
  const order = ['queued', 'running', 'done'];
  const at = stage ? order.indexOf(stage) : -1;
  for (const li of document.querySelectorAll<HTMLLIElement>('#states li')) {
    const i = order.indexOf(li.dataset['state'] ?? '');
    li.classList.toggle('done', i < at || (stage === 'done' && i === at));
    li.classList.toggle('active', i === at && stage !== 'done');
  }
}

function stageOf(state: string): 'queued' | 'running' | 'done' | null {
  if (state === 'waiting' || state === 'prioritized' || state === 'delayed' || state === 'waiting-children') return 'queued';
  if (state === 'active') return 'running';
  if (state === 'completed') return 'done';
  return null;
}

async function base64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/**
 * The image as the API takes it: inline when small (one request, and no storage CORS rule
 * needed), otherwise uploaded to the URL `uploads.create` signs. A browser PUT to S3 directly
 * needs a CORS rule on the bucket allowing the page's origin.
 */
async function imageRef(c: ReturnType<typeof client>, blob: Blob): Promise<string | { base64: string }> {
  if (blob.size <= config.maxInlineBytes) return { base64: await base64(blob) };
  return upload(c, blob);
}

async function upload(c: ReturnType<typeof client>, blob: Blob): Promise<string> {
  const up = await c.uploads.create.mutate({ contentType: blob.type || 'application/octet-stream', bytes: blob.size });
  const res = await fetch(new URL(up.url, location.href), { method: up.method ?? 'PUT', body: blob });
  if (!res.ok) throw new Error(`upload failed: HTTP ${res.status} ${await res.text()}`);
  return up.uploadId;
}

function render(taskName: string, output: Record<string, unknown>): void {
  resultEl.replaceChildren();
  const line = (cls: string, text: string) => {
    const p = document.createElement('p');
    p.className = cls;
    p.textContent = text;
    resultEl.append(p);
  };
  if (taskName === 'caption') {
    for (const c of output['captions'] as { text: string; score: number }[]) {
      line('caption', c.text);
      line('score', `score ${c.score.toFixed(3)}`);
    }
  } else if (taskName === 'vqa') {
    line('caption', String(output['answer']));
    line('score', `score ${(output['score'] as number).toFixed(3)}`);
  } else {
    const itm = output['itm'] as number;
    line('caption', output['keep'] ? 'The text matches the image.' : 'The text does not match the image.');
    line('score', `ITM match probability ${itm.toFixed(3)} · ITC cosine ${(output['itc'] as number).toFixed(3)}`);
  }
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  showError(null);
  resultEl.replaceChildren();
  setStage(null);
  if (!image) {
    showError('Choose an image first: drop one, pick a file, or click an example.');
    return;
  }
  const t = task();
  runButton.disabled = true;
  try {
    const c = client();
    statusEl.textContent = 'Sending the image…';
    const ref = await imageRef(c, image.blob);
    let submitted: { jobIds: string[] };
    if (t === 'caption') {
      const mode = ($('decoding') as HTMLSelectElement).value as 'beam' | 'nucleus';
      const n = Math.min(3, Math.max(1, Number(($('count') as HTMLInputElement).value) || 1));
      const seed = mode === 'nucleus' ? Math.floor(Math.random() * 2 ** 31) : 0;
      submitted = await c.caption.submit.mutate({ items: [{ image: ref }], options: { mode, numCaptions: n, seed } });
    } else if (t === 'vqa') {
      const question = ($('question') as HTMLInputElement).value;
      submitted = await c.vqa.submit.mutate({ items: [{ image: ref, question }] });
    } else {
      const text = ($('text') as HTMLInputElement).value;
      submitted = await c.filter.submit.mutate({ items: [{ image: ref, text }] });
    }
    const jobId = submitted.jobIds[0];
    if (!jobId) throw new Error('the API returned no job id');
    statusEl.textContent = `Job ${jobId} submitted.`;
    const final = await new Promise<{ state: string; failure?: { code: string; message: string } }>((resolve, reject) => {
      const sub = c.jobs.watch.subscribe(
        { jobId },
        {
          onData: (ev: { data: { state?: string; failure?: { code: string; message: string } } }) => {
            const state = ev.data.state;
            if (!state) return;
            setStage(stageOf(state));
            statusEl.textContent = `Job ${jobId}: ${stageOf(state) ?? state}`;
            if (state === 'completed' || state === 'failed') {
              sub.unsubscribe();
              resolve({ state, ...(ev.data.failure ? { failure: ev.data.failure } : {}) });
            }
          },
          onError: reject,
        },
      );
    });
    if (final.state === 'failed') {
      const f = final.failure;
      throw new Error(f?.code === 'BAD_IMAGE' ? `That file is not an image we can read (${f.message}).` : `${f?.code ?? 'FAILED'}: ${f?.message ?? 'the job failed'}`);
    }
    const result = (await c.jobs.result.query({ jobId })) as { output: Record<string, unknown> };
    render(t, result.output);
  } catch (err) {
    setStage(null);
    showError((err as Error).message);
    statusEl.textContent = '';
  } finally {
    runButton.disabled = false;
  }
});
