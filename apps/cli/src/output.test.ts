import { describe, expect, it } from 'vitest';
import { formatTable, toJsonl } from './output.js';
import { answerRecord, captionRecord, filterRecord } from './records.js';

describe('JSON Lines records', () => {
  it('one line per input: the input, job and state, then the output or the failure', () => {
    const text = toJsonl([
      captionRecord('img/a.png', { jobId: 'caption-1', state: 'completed', output: { captions: [{ text: 'a red\nsquare', score: -0.25 }] } }),
      captionRecord('s3://b/c.png', { jobId: 'caption-2', state: 'failed', failure: { code: 'IMAGE_NOT_FOUND', message: 'no such object' } }),
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines[0]).toBe('{"input":"img/a.png","jobId":"caption-1","state":"completed","captions":[{"text":"a red\\nsquare","score":-0.25}]}');
    expect(JSON.parse(lines[1]!)).toEqual({
      input: 's3://b/c.png',
      jobId: 'caption-2',
      state: 'failed',
      failure: { code: 'IMAGE_NOT_FOUND', message: 'no such object' },
    });
  });

  it('carry the task fields of filter and VQA results', () => {
    const pair = { image: 'a.png', text: 'a cat' };
    expect(filterRecord(pair, { jobId: 'filter-1', state: 'completed', output: { itm: 0.9, itc: 0.4, keep: true, threshold: 0.5 } })).toEqual({
      ...pair,
      jobId: 'filter-1',
      state: 'completed',
      itm: 0.9,
      itc: 0.4,
      keep: true,
    });
    const q = { image: 'a.png', question: 'what color?' };
    expect(answerRecord(q, { jobId: 'vqa-1', state: 'completed', output: { answer: 'red', score: -0.1 } })).toEqual({
      ...q,
      jobId: 'vqa-1',
      state: 'completed',
      answer: 'red',
      score: -0.1,
    });
    expect(answerRecord(q, { jobId: 'vqa-2', state: 'removed', failure: { code: 'NOT_FOUND', message: 'job vqa-2 not found' } })).toMatchObject({
      state: 'removed',
      failure: { code: 'NOT_FOUND' },
    });
  });
});

describe('formatTable', () => {
  it('pads columns to their widest cell and right-aligns numbers', () => {
    expect(
      formatTable(
        ['task', 'waiting', 'items/s'],
        [
          ['caption', 12, '3.5'],
          ['vqa', 0, '0.0'],
        ],
      ),
    ).toBe(['task     waiting  items/s', 'caption       12  3.5', 'vqa            0  0.0'].join('\n'));
  });
});
