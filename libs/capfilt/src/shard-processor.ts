/**
 * CapFilt over one shard: the captioner writes K nucleus captions per image, the filter scores
 * the web text and every synthetic caption by ITM, and texts at or above the threshold are kept.
 * Images are batched across the shard for both models.
 */
import { ImageError, loadManifest, packImages, preprocess, type Blip } from '@blip-jobs/med-model';
import { roundScore } from '@blip-jobs/shared';
import { emptyMalformed, type CorpusSample, type KeptText, type MalformedCounts, type OutputSample, type ParsedShard } from './corpus.js';
import { imageSeed, type CapfiltParams } from './params.js';

/** A model and how its images are prepared (image size of the task, normalisation). */
export interface CapfiltModel {
  blip: Blip;
  imageSize: number;
  mean: readonly number[];
  std: readonly number[];
}

/** Opens the preprocessing spec of a model directory for `task` ('caption' or 'match'). */
export async function capfiltModel(blip: Blip, modelDir: string, task: 'caption' | 'match'): Promise<CapfiltModel> {
  const m = await loadManifest(modelDir, { verifyChecksums: false });
  const size = blip.imageSizes[task];
  if (!size) throw new Error(`${modelDir} has no ${task} task`);
  return { blip, imageSize: size, mean: m.preprocess.mean, std: m.preprocess.std };
}

export interface ShardProcessorOptions {
  captioner: CapfiltModel;
  filter: CapfiltModel;
  params: CapfiltParams;
  /** Images per model call (default 32). */
  batchSize?: number;
  /** Called after each batch with samples done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface ShardCounts {
  /** Image-text pairs read (well-formed samples). */
  pairsIn: number;
  webKept: number;
  syntheticGenerated: number;
  syntheticKept: number;
  /** Web texts removed / web texts scored. */
  noiseRatio: number;
  /** Images with at least one kept text. */
  samplesOut: number;
  malformed: MalformedCounts;
}

export type ImageReader = (uri: string) => Promise<Uint8Array | null>;

interface Prepared {
  sample: CorpusSample;
  captionPixels: Float32Array;
  filterPixels: Float32Array;
}

export class ShardProcessor {
  private readonly batchSize: number;

  constructor(private readonly opts: ShardProcessorOptions) {
    this.batchSize = opts.batchSize ?? 32;
  }

  /**
   * `readImage` gives the bytes of an image referenced by URI (JSONL shards), or null when there
   * is no such image; other errors (storage down) fail the shard.
   */
  async process(parsed: ParsedShard, readImage: ImageReader): Promise<{ out: OutputSample[]; counts: ShardCounts }> {
    const malformed: MalformedCounts = { ...emptyMalformed(), ...parsed.malformed };
    const out: OutputSample[] = [];
    let webKept = 0;
    let syntheticKept = 0;
    let scored = 0;
    const total = parsed.samples.length;
    for (let start = 0; start < total; start += this.batchSize) {
      const prepared: Prepared[] = [];
      for (const sample of parsed.samples.slice(start, start + this.batchSize)) {
        const p = await this.prepare(sample, readImage);
        if (p) prepared.push(p);
        else malformed.unreadableImage++;
      }
      if (prepared.length) {
        for (const o of await this.capfilt(prepared)) {
          scored++;
          webKept += o.kept.some((k) => k.source === 'web') ? 1 : 0;
          syntheticKept += o.kept.filter((k) => k.source === 'synthetic').length;
          if (o.kept.length) out.push(o);
        }
      }
      this.opts.onProgress?.(Math.min(start + this.batchSize, total), total);
    }
    const K = this.opts.params.syntheticPerImage;
    return {
      out,
      counts: {
        pairsIn: total,
        webKept,
        syntheticGenerated: scored * K,
        syntheticKept,
        noiseRatio: scored ? (scored - webKept) / scored : 0,
        samplesOut: out.length,
        malformed,
      },
    };
  }

  private async prepare(sample: CorpusSample, readImage: ImageReader): Promise<Prepared | null> {
    const { captioner, filter } = this.opts;
    const bytes = sample.image.kind === 'bytes' ? sample.image.bytes : await readImage(sample.image.uri);
    if (!bytes) return null;
    try {
      const captionPixels = await preprocess(bytes, captioner.imageSize, captioner);
      const same = filter.imageSize === captioner.imageSize && `${filter.mean}|${filter.std}` === `${captioner.mean}|${captioner.std}`;
      const filterPixels = same ? captionPixels : await preprocess(bytes, filter.imageSize, filter);
      return { sample, captionPixels, filterPixels };
    } catch (err) {
      // An unreadable image is a malformed sample, not a failed shard.
      if (err instanceof ImageError) return null;
      throw err;
    }
  }

  private async capfilt(batch: Prepared[]): Promise<OutputSample[]> {
    const { captioner, filter, params } = this.opts;
    const K = params.syntheticPerImage;
    const captions = await captioner.blip.caption(packImages(batch.map((b) => b.captionPixels)), {
      mode: 'nucleus',
      topP: params.topP,
      numCaptions: K,
      seeds: batch.map((b) => imageSeed(params.seed, b.sample.key)),
    });
    const texts = batch.flatMap((b, i) => [
      { image: i, text: b.sample.text, source: 'web' as const },
      ...(captions[i] ?? []).map((c) => ({ image: i, text: c.text, source: 'synthetic' as const })),
    ]);
    const scores = await filter.blip.match(
      packImages(batch.map((b) => b.filterPixels)),
      texts.map(({ image, text }) => ({ image, text })),
    );
    return batch.map((b, i) => {
      const kept: KeptText[] = [];
      texts.forEach((t, k) => {
        const p = scores[k]?.itm ?? 0;
        if (t.image === i && p >= params.threshold) kept.push({ text: t.text, source: t.source, itm: roundScore(p) });
      });
      // Best first; the web text wins a tie (it is the image's own text).
      kept.sort((x, y) => y.itm - x.itm || (x.source === 'web' ? -1 : y.source === 'web' ? 1 : 0));
      return { sample: b.sample, kept };
    });
  }
}
