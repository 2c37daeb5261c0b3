/**
 * One worker process: loads the model once, then serves the queues of the tasks in WORKER_TASKS,
 * each through its own BullMQ Worker and micro-batcher. All tasks share the one `Blip` (its
 * worker thread runs one request at a time), one Redis connection for commands and the storage.
 *
 * Lifecycle: `start()` → ready (model loaded, queue workers running) → `close()` stops taking
 * jobs, finishes the active ones, and releases everything. `/health/ready` follows `ready`.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { FlowProducer, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { Blip, loadManifest, resolveModelDir, type TaskName } from '@blip-jobs/med-model';
import { capfiltModel, type CapfiltModel } from '@blip-jobs/capfilt';
import {
  BatchStore,
  CAPFILT_QUEUES,
  WorkerRegistry,
  queueName,
  s3ClientOptions,
  type Config,
  type JobTask,
  type WorkerInfo,
} from '@blip-jobs/shared';
import { openStorage, type ObjectStorage, type S3ClientOptions } from '@blip-jobs/shared/storage';
import { CapfiltProcessor } from './capfilt-processor.js';
import { WorkerHttpServer } from './http-server.js';
import { ImageSource } from './image-source.js';
import { JobProcessor, type BatchedOutput } from './job-processor.js';
import { WorkerMetrics } from './metrics.js';
import { MicroBatcher } from './micro-batcher.js';
import { TaskRunner, type PreparedJob } from './task-runner.js';

/** How often the worker refreshes its registry record, and how long the record outlives silence. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TTL_S = 15;
/** A job moved back to waiting by more stalls than this fails (a job that crashes its worker). */
const MAX_STALLED_COUNT = 2;

export interface GpuWorkerOptions {
  /** Default: pino at the configured LOG_LEVEL. */
  logger?: Logger;
  /**
   * Called once when the worker can no longer serve (a model's worker thread died): it has
   * already stopped fetching jobs and turned /health/live and /health/ready to 503. main.ts
   * closes and exits non-zero so the orchestrator restarts the process. Default: only logged.
   */
  onFatal?: (err: Error) => void;
}

/** `failed`: a model died; nothing more is fetched; close() still releases everything. */
export type GpuWorkerState = 'new' | 'starting' | 'ready' | 'failed' | 'closing' | 'closed';

/** The model task a job task needs (its graphs must be in the model). */
const MODEL_TASK: Record<JobTask, TaskName[]> = {
  caption: ['caption'],
  vqa: ['vqa'],
  filter: ['match'],
  embed: ['embed', 'match'],
};

export class GpuWorker {
  /** `{hostname}-{pid}-{random}`: unique per process, readable in `queues.stats`. */
  readonly id = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly metrics = new WorkerMetrics();
  private readonly logger: Logger;
  private state: GpuWorkerState = 'new';
  private http: WorkerHttpServer | undefined;
  private port: number | undefined;
  private blip: Blip | undefined;
  /** CapFilt models opened besides `blip` (CAPFILT_*_DIR naming another model). */
  private extraModels: Blip[] = [];
  private flows: FlowProducer | undefined;
  private redis: Redis | undefined;
  private registry: WorkerRegistry | undefined;
  private workers: Worker[] = [];
  private queues: Queue[] = [];
  private batchers: MicroBatcher<PreparedJob, BatchedOutput>[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight: Promise<void> = Promise.resolve();
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private fatal: Error | undefined;
  private readonly onFatal: ((err: Error) => void) | undefined;

  constructor(
    private readonly config: Config,
    opts: GpuWorkerOptions = {},
  ) {
    this.logger = opts.logger ?? pino({ level: config.LOG_LEVEL, base: { service: 'gpu-worker' } });
    this.onFatal = opts.onFatal;
  }

  /** Why the worker stopped serving (see GpuWorkerOptions.onFatal); undefined while healthy. */
  get failure(): Error | undefined {
    return this.fatal;
  }

  /** True once the model is loaded and the queue workers run, until `close()` begins. */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** The model version served; undefined before the model is loaded. */
  get modelVersion(): string | undefined {
    return this.blip?.version;
  }

  /** Port of /metrics and /health/*, once listening (WORKER_HTTP_PORT > 0). */
  get httpPort(): number | undefined {
    return this.port;
  }

  /**
   * Starts the HTTP server (live, not ready), loads the model, connects to Redis and starts one
   * queue worker per task. On failure, call `close()` to release what was started.
   */
  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`GpuWorker.start() called in state ${this.state}`));
    this.state = 'starting';
    this.starting = this.boot();
    return this.starting;
  }

  /** Throws when close() began while starting: nothing more is started. */
  private assertStarting(): void {
    if (this.state !== 'starting') throw new Error('the worker was closed while starting');
  }

  private async boot(): Promise<void> {
    const c = this.config;

    if (c.WORKER_HTTP_PORT > 0) {
      this.http = new WorkerHttpServer({
        host: c.WORKER_HTTP_HOST,
        port: c.WORKER_HTTP_PORT,
        registry: this.metrics.registry,
        isReady: () => this.ready,
        liveness: () => (this.fatal ? `model failed: ${this.fatal.message}` : undefined),
      });
      this.port = await this.http.listen();
      this.logger.info({ host: c.WORKER_HTTP_HOST, port: this.port }, 'health and metrics listening');
    }

    const s3 = s3ClientOptions(c);
    const modelDir = await resolveModelDir(c.MODEL_DIR, { cacheDir: c.MODEL_CACHE_DIR, s3 });
    const t0 = Date.now();
    const blip = await Blip.open(modelDir, {
      executionProviders: c.ORT_EXECUTION_PROVIDERS,
      ...(c.ORT_THREADS > 0 ? { intraOpNumThreads: c.ORT_THREADS } : {}),
    });
    this.blip = blip;
    blip.onFailure((err) => this.modelFailed(err));
    this.assertStarting();
    // Blip verified the files; the manifest is read again here for preprocessing and defaults.
    const manifest = await loadManifest(modelDir, { verifyChecksums: false });
    for (const task of c.WORKER_TASKS) {
      if (!MODEL_TASK[task].some((t) => blip.imageSizes[t] !== undefined)) {
        throw new Error(`model ${blip.version} cannot serve ${task} jobs (it has no ${MODEL_TASK[task].join(' or ')} task): remove ${task} from WORKER_TASKS`);
      }
    }
    this.metrics.setModel(blip.version);
    this.logger.info({ modelDir, version: blip.version, loadMs: Date.now() - t0 }, 'model loaded');

    const redis = new Redis(c.REDIS_URL, { maxRetriesPerRequest: null });
    this.redis = redis;
    redis.on('error', (err) => this.logger.warn({ err: err.message }, 'redis connection error'));
    const storage: ObjectStorage = openStorage(c.STORAGE_URL, s3);
    const batches = new BatchStore(redis, c.QUEUE_PREFIX, c.JOB_RETENTION_DAYS * 86_400);
    const registry = new WorkerRegistry(redis, c.QUEUE_PREFIX);
    this.registry = registry;
    const images = new ImageSource({
      storage,
      s3,
      maxBytes: c.MAX_IMAGE_BYTES,
      fetchTimeoutMs: c.FETCH_TIMEOUT_MS,
      allowPrivate: c.FETCH_ALLOW_PRIVATE,
    });
    const runner = new TaskRunner({ blip, manifest, imageLimits: { maxBytes: c.MAX_IMAGE_BYTES, maxPixels: c.MAX_IMAGE_PIXELS } });

    for (const task of c.WORKER_TASKS) {
      // The batcher asks the processor (created after it) how many jobs are still on their way.
      // eslint-disable-next-line prefer-const -- read by the closure below before it is assigned
      let processor: JobProcessor | undefined;
      const batcher = new MicroBatcher<PreparedJob, BatchedOutput>({
        maxBatch: c.WORKER_MAX_BATCH,
        maxWaitMs: c.WORKER_MAX_WAIT_MS,
        incoming: () => processor?.incoming ?? 0,
        run: async (items) => {
          const outputs = await runner.run(items);
          return outputs.map((o) => (o instanceof Error ? o : { output: o, batchSize: items.length }));
        },
        onBatch: (size) => {
          this.metrics.batchSize.observe({ task }, size);
          registry.recordBatch(task, size).catch((err: unknown) => this.logger.warn({ err, task }, 'could not record a batch'));
        },
      });
      this.batchers.push(batcher);
      processor = new JobProcessor({
        task,
        modelVersion: blip.version,
        images,
        prepare: (data, image) => runner.prepare(data, image),
        batcher,
        storage,
        batches,
        metrics: this.metrics,
        logger: this.logger.child({ task }),
        halted: () => this.fatal !== undefined,
      });
      const worker = new Worker(queueName(task), processor.process, {
        connection: redis,
        prefix: c.QUEUE_PREFIX,
        concurrency: c.WORKER_CONCURRENCY,
        lockDuration: c.WORKER_LOCK_DURATION_MS,
        stalledInterval: c.WORKER_STALLED_INTERVAL_MS,
        maxStalledCount: MAX_STALLED_COUNT,
      });
      worker.on('failed', (job, err) => void processor.onFailed(job, err));
      // Without a listener an 'error' event (a lost connection) would crash the process.
      worker.on('error', (err) => this.logger.error({ err, task }, 'queue worker error'));
      this.workers.push(worker);
      this.queues.push(new Queue(queueName(task), { connection: redis, prefix: c.QUEUE_PREFIX }));
    }
    if (c.WORKER_CAPFILT) await this.startCapfilt(redis, storage, s3, blip, modelDir);
    this.metrics.watchQueues(this.queues);
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));

    const info: WorkerInfo = {
      id: this.id,
      tasks: [...c.WORKER_TASKS],
      modelVersion: blip.version,
      host: os.hostname(),
      pid: process.pid,
      startedAt: Date.now(),
    };
    await registry.heartbeat(info, HEARTBEAT_TTL_S);
    this.heartbeatTimer = setInterval(() => {
      this.heartbeatInFlight = registry
        .heartbeat(info, HEARTBEAT_TTL_S)
        .catch((err: unknown) => this.logger.warn({ err }, 'heartbeat failed'));
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();

    this.assertStarting();
    if (this.fatal) throw this.fatal; // the model died while the rest was starting
    this.state = 'ready';
    this.logger.info(
      { workerId: this.id, tasks: c.WORKER_TASKS, concurrency: c.WORKER_CONCURRENCY, maxBatch: c.WORKER_MAX_BATCH },
      'worker ready',
    );
  }

  /** CapFilt's three queues: shards (one at a time: a shard batches internally), runs, schedule firings. */
  private async startCapfilt(redis: Redis, storage: ObjectStorage, s3: S3ClientOptions, blip: Blip, modelDir: string): Promise<void> {
    const c = this.config;
    const model = async (location: string | undefined, task: 'caption' | 'match'): Promise<CapfiltModel> => {
      if (!location) return capfiltModel(blip, modelDir, task);
      const dir = await resolveModelDir(location, { cacheDir: c.MODEL_CACHE_DIR, s3 });
      const other = await Blip.open(dir, {
        executionProviders: c.ORT_EXECUTION_PROVIDERS,
        ...(c.ORT_THREADS > 0 ? { intraOpNumThreads: c.ORT_THREADS } : {}),
      });
      this.extraModels.push(other);
      other.onFailure((err) => this.modelFailed(err));
      return capfiltModel(other, dir, task);
    };
    const captioner = await model(c.CAPFILT_CAPTIONER_DIR, 'caption');
    const filter = await model(c.CAPFILT_FILTER_DIR, 'match');
    this.assertStarting();
    this.flows = new FlowProducer({ connection: redis, prefix: c.QUEUE_PREFIX });
    const capfilt = new CapfiltProcessor({
      captioner,
      filter,
      storage,
      s3,
      batchSize: c.CAPFILT_BATCH,
      flows: this.flows,
      queuePrefix: c.QUEUE_PREFIX,
      logger: this.logger.child({ task: 'capfilt' }),
    });
    const common = {
      connection: redis,
      prefix: c.QUEUE_PREFIX,
      lockDuration: c.WORKER_LOCK_DURATION_MS,
      stalledInterval: c.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: MAX_STALLED_COUNT,
    };
    const workers = [
      new Worker(CAPFILT_QUEUES.shard, capfilt.processShard, { ...common, concurrency: 1 }),
      new Worker(CAPFILT_QUEUES.run, capfilt.processRun, { ...common, concurrency: 4 }),
      new Worker(CAPFILT_QUEUES.schedule, capfilt.processSchedule, { ...common, concurrency: 1 }),
    ];
    for (const w of workers) {
      w.on('failed', (job, err) => this.logger.warn({ queue: w.name, jobId: job?.id, err: err.message }, 'capfilt job failed'));
      w.on('error', (err) => this.logger.error({ err, queue: w.name }, 'queue worker error'));
    }
    this.workers.push(...workers);
    this.queues.push(...Object.values(CAPFILT_QUEUES).map((q) => new Queue(q, { connection: redis, prefix: c.QUEUE_PREFIX })));
  }

  /**
   * A model's worker thread died: every model call would now fail, and retrying jobs here would
   * only spend their attempts. Stop fetching, hand every job this worker holds back to waiting
   * with no attempt spent (JobProcessorOptions.halted), turn the health checks red and tell the
   * owner.
   */
  private modelFailed(err: Error): void {
    if (this.fatal || this.state === 'closing' || this.state === 'closed') return;
    this.fatal = err;
    if (this.state === 'ready') this.state = 'failed';
    this.logger.fatal({ err, workerId: this.id }, 'a model worker thread died: taking no more jobs');
    for (const w of this.workers) {
      w.pause(true).catch((e: unknown) => this.logger.warn({ err: e }, 'could not pause a queue worker'));
    }
    this.onFatal?.(err);
  }

  /**
   * Graceful stop: not ready at once, no new jobs, active jobs finished and written, registry
   * record removed, model and connections released. Safe after a failed `start()`; idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    this.logger.info({ workerId: this.id }, 'shutting down');
    // A start in progress stops at its next step; what it started is released below.
    await this.starting?.catch(() => undefined);
    clearInterval(this.heartbeatTimer);
    // Worker.close() stops fetching and waits for the active jobs, which wait for their batches.
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all(this.batchers.map((b) => b.drain()));
    await Promise.all(this.queues.map((q) => q.close()));
    await this.heartbeatInFlight;
    await this.registry?.remove(this.id).catch((err: unknown) => this.logger.warn({ err }, 'could not remove the registry record'));
    await this.flows?.close();
    for (const m of [this.blip, ...this.extraModels]) {
      await m?.close().catch((err: unknown) => this.logger.warn({ err }, 'could not close a model cleanly'));
    }
    await this.redis?.quit().catch(() => this.redis?.disconnect());
    await this.http?.close();
    this.state = 'closed';
    this.logger.info({ workerId: this.id }, 'worker stopped');
  }
}
