/**
 * Runs jobs on the model: `prepare` decodes one job's image into pixels (one bad image fails only
 * its own job), `run` computes one micro-batch with one Blip call per group of jobs whose options
 * are the same, and shapes each job's output as `TaskOutputs` says.
 *
 * Scores are rounded by `roundScore` (6 decimals): a batched matrix product may sum in another
 * order than a single-image one, so the same image scores a few float32 ulps apart depending on
 * which jobs share its batch; rounding makes a job's result (and a retry's) the same bytes.
 */
import {
  ImageError,
  preprocess,
  type Blip,
  type BlipCaptionOptions,
  type ImageLimits,
  type ModelManifest,
  type TaskName,
  packImages,
} from '@blip-jobs/med-model';
import { roundScore, type CaptionOptions, type JobData, type JobDataOf, type JobTask, type TaskOutputs, type VqaOptions } from '@blip-jobs/shared';
import { JobError } from './job-error.js';

/** A job ready for the model: its data and, when it has an image, the image's pixels [3, S, S]. */
export interface PreparedJob<D extends JobData = JobData> {
  data: D;
  pixels: Float32Array | undefined;
}

/** A prepared job of task T that has its pixels. */
type WithPixels<T extends JobTask> = PreparedJob<JobDataOf<T>> & { pixels: Float32Array };

export type TaskOutput = TaskOutputs[JobTask];

export interface TaskRunnerOptions {
  blip: Blip;
  /** The manifest of the model `blip` serves: normalisation and the tasks' default settings. */
  manifest: ModelManifest;
  /** Image limits checked before any pixel is decoded (bytes, pixels, dimensions). */
  imageLimits?: Partial<ImageLimits>;
}

/** JSON with object keys sorted at every level: equal options give equal text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Jobs with the same key run in one Blip call. */
function groupKey(data: JobData): string {
  switch (data.task) {
    case 'caption':
    case 'vqa':
      return `${data.task}:${canonicalJson(data.options)}`;
    case 'filter':
      return 'filter'; // the threshold applies after the model, which takes no options here
    case 'embed':
      return data.image ? 'embed:image' : 'embed:text';
  }
}

function withPixels<T extends JobTask>(jobs: readonly PreparedJob[]): WithPixels<T>[] {
  for (const j of jobs) {
    if (!j.pixels) throw new JobError('BAD_INPUT', `${j.data.task} job has no image`);
  }
  return jobs as WithPixels<T>[];
}

/** One Float32Array [n, 3, S, S] from the jobs' [3, S, S] pixels. */
function pack(jobs: readonly { pixels: Float32Array }[]): { pixels: Float32Array; count: number } {
  return packImages(jobs.map((j) => j.pixels));
}

/** Pairs jobs with the model's outputs, which must be one per job. */
function zip<A, B>(as: readonly A[], bs: readonly B[]): [A, B][] {
  if (as.length !== bs.length) throw new Error(`the model returned ${bs.length} results for ${as.length} jobs`);
  return as.map((a, i) => [a, bs[i] as B]);
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class TaskRunner {
  private readonly blip: Blip;
  private readonly manifest: ModelManifest;
  private readonly imageLimits: Partial<ImageLimits>;

  constructor(opts: TaskRunnerOptions) {
    this.blip = opts.blip;
    this.manifest = opts.manifest;
    this.imageLimits = opts.imageLimits ?? {};
  }

  /** The model task whose vision graph (and image size) a job task uses. */
  private modelTask(task: JobTask): TaskName {
    if (task === 'filter') return 'match';
    if (task === 'embed') return this.blip.imageSizes.embed ? 'embed' : 'match';
    return task;
  }

  private imageSize(task: JobTask): number {
    const S = this.blip.imageSizes[this.modelTask(task)];
    if (!S) throw new JobError('MODEL_MISMATCH', `model ${this.blip.version} has no ${this.modelTask(task)} task`);
    return S;
  }

  /** Decodes the job's image; throws JobError BAD_IMAGE or IMAGE_TOO_LARGE for an image it refuses. */
  async prepare(data: JobData, image: Uint8Array | undefined): Promise<PreparedJob> {
    if (!image) return { data, pixels: undefined };
    try {
      const pixels = await preprocess(image, this.imageSize(data.task), this.manifest.preprocess, this.imageLimits);
      return { data, pixels };
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      const tooLarge = err.code === 'IMAGE_TOO_LARGE' || err.code === 'TOO_MANY_PIXELS';
      throw new JobError(tooLarge ? 'IMAGE_TOO_LARGE' : 'BAD_IMAGE', err.message, false, { cause: err });
    }
  }

  /**
   * Runs a micro-batch; one entry per job, in order: its output, or the Error that failed it (a
   * failed Blip call fails only the jobs of its own group).
   */
  async run(jobs: readonly PreparedJob[]): Promise<(TaskOutput | Error)[]> {
    const out = new Array<TaskOutput | Error>(jobs.length);
    const groups = new Map<string, { index: number; job: PreparedJob }[]>();
    jobs.forEach((job, index) => {
      const key = groupKey(job.data);
      groups.set(key, [...(groups.get(key) ?? []), { index, job }]);
    });
    for (const members of groups.values()) {
      try {
        const results = await this.runGroup(members.map((m) => m.job));
        for (const [m, r] of zip(members, results)) out[m.index] = r;
      } catch (err) {
        for (const m of members) out[m.index] = toError(err);
      }
    }
    return out;
  }

  /** One Blip call for jobs that share their task and options. */
  private runGroup(group: readonly PreparedJob[]): Promise<TaskOutput[]> {
    const first = group[0];
    if (!first) return Promise.resolve([]);
    switch (first.data.task) {
      case 'caption':
        return this.caption(withPixels<'caption'>(group), first.data.options);
      case 'vqa':
        return this.vqa(withPixels<'vqa'>(group), first.data.options);
      case 'filter':
        return this.filter(withPixels<'filter'>(group));
      case 'embed':
        return first.data.image
          ? this.embedImages(withPixels<'embed'>(group))
          : this.embedTexts(group as PreparedJob<JobDataOf<'embed'>>[]);
    }
  }

  private async caption(jobs: WithPixels<'caption'>[], options: CaptionOptions): Promise<TaskOutputs['caption'][]> {
    const captions = await this.blip.caption(pack(jobs), this.captionOptions(options, jobs.length));
    return captions.map((list) => ({ captions: list.map((c) => ({ text: c.text, score: roundScore(c.score) })) }));
  }

  /** The job's caption options for Blip. */
  private captionOptions(o: CaptionOptions, images: number): BlipCaptionOptions {
    const opts: BlipCaptionOptions = { mode: o.mode, numCaptions: o.numCaptions };
    if (o.numBeams !== undefined) opts.numBeams = o.numBeams;
    if (o.maxLength !== undefined) opts.maxLength = o.maxLength;
    if (o.minLength !== undefined) opts.minLength = o.minLength;
    if (o.repetitionPenalty !== undefined) opts.repetitionPenalty = o.repetitionPenalty;
    if (o.topP !== undefined) opts.topP = o.topP;
    if (o.topK !== undefined) opts.topK = o.topK;
    if (o.temperature !== undefined) opts.temperature = o.temperature;
    if (o.prompt !== undefined) opts.prompt = o.prompt;
    // One mulberry32(seed) stream per image: the same seed and image give the same captions in
    // any batch (a single shared stream would make them depend on the batch's other images).
    if (o.mode === 'nucleus') opts.seeds = Array.from({ length: images }, () => o.seed);
    return opts;
  }

  private async vqa(jobs: WithPixels<'vqa'>[], o: VqaOptions): Promise<TaskOutputs['vqa'][]> {
    const questions = jobs.map((j, image) => ({ image, question: j.data.question }));
    if (o.mode === 'rank') {
      const ranked = await this.blip.answer(pack(jobs), questions, {
        mode: 'rank',
        candidates: o.candidates ?? [],
        ...(o.k !== undefined ? { k: o.k } : {}),
      });
      return ranked.map((list) => {
        const all = list.map((r) => ({ answer: r.answer, score: roundScore(r.score) }));
        const best = all[0];
        if (!best) throw new Error('rank mode returned no candidate');
        return { answer: best.answer, score: best.score, ranked: all };
      });
    }
    const answers = await this.blip.answer(pack(jobs), questions, { mode: 'generate' });
    return answers.map((a) => ({ answer: a.answer, score: roundScore(a.score) }));
  }

  private async filter(jobs: WithPixels<'filter'>[]): Promise<TaskOutputs['filter'][]> {
    const pairs = jobs.map((j, image) => ({ image, text: j.data.text }));
    const scores = await this.blip.match(pack(jobs), pairs);
    return zip(jobs, scores).map(([job, s]) => {
      const itm = roundScore(s.itm);
      const threshold = job.data.options.threshold;
      // Decided on the rounded score, so a result always agrees with itself.
      return { itm, itc: roundScore(s.itc), keep: itm >= threshold, threshold };
    });
  }

  private async embedImages(jobs: WithPixels<'embed'>[]): Promise<TaskOutputs['embed'][]> {
    return (await this.blip.embedImages(pack(jobs))).map((v) => ({ embedding: Array.from(v, roundScore) }));
  }

  private async embedTexts(jobs: PreparedJob<JobDataOf<'embed'>>[]): Promise<TaskOutputs['embed'][]> {
    const vectors = await this.blip.embedTexts(jobs.map((j) => j.data.text ?? ''));
    return vectors.map((v) => ({ embedding: Array.from(v, roundScore) }));
  }
}
