import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig, parseApiKeys } from './config.js';

describe('configuration', () => {
  it('defaults run the embedded setup', () => {
    const c = loadConfig({});
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.STORAGE_URL).toBe('file:data');
    expect(c.MODEL_DIR).toBe('models/blip-tiny-shapes');
    expect(c.WORKER_TASKS).toEqual(['caption', 'vqa', 'filter', 'embed']);
    expect(c.ORT_EXECUTION_PROVIDERS).toEqual(['cpu']);
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({ WORKER_TASKS: 'vqa, caption', WORKER_MAX_BATCH: '8', FETCH_ALLOW_PRIVATE: 'true', ORT_EXECUTION_PROVIDERS: 'cuda,cpu' });
    expect(c.WORKER_TASKS).toEqual(['vqa', 'caption']);
    expect(c.WORKER_MAX_BATCH).toBe(8);
    expect(c.FETCH_ALLOW_PRIVATE).toBe(true);
    expect(c.ORT_EXECUTION_PROVIDERS).toEqual(['cuda', 'cpu']);
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ WORKER_MAX_BATCH: '0', WORKER_TASKS: 'paint', LOG_LEVEL: 'loud' })).toThrow(
      /WORKER_MAX_BATCH[\s\S]*WORKER_TASKS[\s\S]*LOG_LEVEL|WORKER_TASKS[\s\S]*WORKER_MAX_BATCH/,
    );
  });

  it('parses API keys without echoing a bad key', () => {
    expect(parseApiKeys('acme:k1, globex:k:2')).toEqual([
      { tenant: 'acme', key: 'k1' },
      { tenant: 'globex', key: 'k:2' },
    ]);
    expect(() => parseApiKeys('secret-without-tenant')).toThrow(/not tenant:key/);
    expect(() => parseApiKeys('acme:')).toThrow(/"acme:…"/);
  });
});

describe('the README', () => {
  it('documents every configuration variable', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## CapFilt'));
    expect(Object.keys(ConfigSchema.shape).filter((k) => !section.includes(`\`${k}\``))).toEqual([]);
  });
});
