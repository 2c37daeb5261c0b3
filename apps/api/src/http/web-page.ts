/**
 * The demo page (apps/api/web): index.html, style.css, and main.ts bundled for the browser with
 * esbuild when the API starts (a fraction of a second; no build step to forget), plus the example
 * images and a small config the page reads (demo key, model version, upload limit).
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import express, { type Router } from 'express';
import type { WorkerRegistry } from '@blip-jobs/shared';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const IMAGE = /\.(png|jpe?g|webp|gif)$/i;

export interface WebPageOptions {
  /** Key the page fills in for visitors (demo mode); null: visitors paste their own. */
  demoKey: string | null;
  /** Directory of example images offered on the page; null: none. */
  examplesDir: string | null;
  maxUploadBytes: number;
  maxInlineBytes: number;
  workers: WorkerRegistry;
}

async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [path.join(WEB_DIR, 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const js = out.outputFiles[0];
  if (!js) throw new Error('esbuild produced no output for the web page');
  return js.text;
}

export async function webPage(o: WebPageOptions): Promise<Router> {
  const [html, css, js] = await Promise.all([
    readFile(path.join(WEB_DIR, 'index.html'), 'utf8'),
    readFile(path.join(WEB_DIR, 'style.css'), 'utf8'),
    bundle(),
  ]);
  const examples = o.examplesDir ? (await readdir(o.examplesDir).catch(() => [])).filter((f) => IMAGE.test(f)).sort() : [];
  const r = express.Router();
  r.get('/', (_req, res) => {
    res.type('html').send(html);
  });
  r.get('/app/style.css', (_req, res) => {
    res.type('css').send(css);
  });
  r.get('/app/main.js', (_req, res) => {
    res.type('js').send(js);
  });
  r.get('/app/config.json', async (_req, res) => {
    const live = await o.workers.live().catch(() => []);
    res.json({
      demoKey: o.demoKey,
      modelVersion: live[0]?.modelVersion ?? null,
      maxUploadBytes: o.maxUploadBytes,
      maxInlineBytes: o.maxInlineBytes,
      examples: examples.map((name) => ({ name, url: `/examples/${encodeURIComponent(name)}` })),
    });
  });
  if (o.examplesDir) r.use('/examples', express.static(o.examplesDir, { index: false, dotfiles: 'ignore' }));
  return r;
}
