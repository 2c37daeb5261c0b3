/**
 * The demo page in a real headless Chromium (Debian's, driven by playwright-core) against the
 * real stack: an example image captioned, a question answered, a text file refused. Screenshots
 * go to test/output/screenshots.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Blip } from '@blip-jobs/med-model';
import { exactCaptionMatch } from '@blip-jobs/shared/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_DIR } from '../support/processes.js';
import { SAMPLES, type Sample } from '../support/samples.js';
import { MODEL_DIR, Stack, TENANTS } from '../support/stack.js';

const SHOTS = path.join(OUTPUT_DIR, 'screenshots');
let stack: Stack;
let browser: Browser;
let page: Page;
/** A sample the model captions right, and one whose colour question it answers right. */
let captioned: { sample: Sample; caption: string };
let asked: { sample: Sample; question: string; answer: string };
/** Uncaught errors in the page's script: there must be none. */
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  stack = await Stack.start({ workers: 1, env: { DEMO_API_KEY: TENANTS.acme } });
  const blip = await Blip.open(MODEL_DIR, { intraOpNumThreads: 1, transferInputs: false });
  const caps = await blip.caption(SAMPLES.map((s) => s.bytes), { mode: 'beam' });
  const i = SAMPLES.findIndex((s, k) => exactCaptionMatch(caps[k]![0]!.text, s.scene));
  captioned = { sample: SAMPLES[i]!, caption: caps[i]![0]!.text };
  const colour = SAMPLES.flatMap((s) => s.questions.filter(([q]) => q === 'what color is the circle?').map(([q, a]) => ({ s, q, a })));
  const answers = await blip.answer(colour.map((c) => c.s.bytes), colour.map((c, image) => ({ image, question: c.q })), { mode: 'generate' });
  const j = colour.findIndex((c, k) => answers[k]!.answer === c.a);
  asked = { sample: colour[j]!.s, question: colour[j]!.q, answer: answers[j]!.answer };
  await blip.close();

  browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(stack.apiUrl);
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the demo page', () => {
  it('captions a clicked example, following the job live', async () => {
    await page.click(`button[data-example="${captioned.sample.file}"]`);
    await expect.poll(() => page.locator('#preview').isVisible()).toBe(true);
    await page.click('#run');
    await page.locator('#result .caption').first().waitFor({ timeout: 60_000 });
    const text = await page.locator('#result .caption').first().textContent();
    expect(text).toBe(captioned.caption);
    expect(exactCaptionMatch(text!, captioned.sample.scene)).toBe(true);
    expect(await page.locator('#states li[data-state="done"]').getAttribute('class')).toContain('done');
    await page.screenshot({ path: path.join(SHOTS, 'caption.png'), fullPage: true });
  });

  it('answers "what color is the circle?"', async () => {
    await page.click(`button[data-example="${asked.sample.file}"]`);
    await page.check('input[name="task"][value="vqa"]');
    await page.fill('#question', asked.question);
    await page.click('#run');
    await expect.poll(() => page.locator('#result .caption').first().textContent(), { timeout: 60_000 }).toBe(asked.answer);
    await page.screenshot({ path: path.join(SHOTS, 'vqa.png'), fullPage: true });
  });

  it('says clearly that a text file is not an image', async () => {
    await page.check('input[name="task"][value="caption"]');
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('shopping list: milk, eggs') });
    await page.click('#run');
    await page.locator('#error').waitFor({ state: 'visible', timeout: 60_000 });
    expect(await page.locator('#error').textContent()).toMatch(/not an image/i);
    expect(await page.locator('#result .caption').count()).toBe(0);
    await page.screenshot({ path: path.join(SHOTS, 'not-an-image.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
