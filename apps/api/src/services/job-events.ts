/**
 * Job state and progress as a resumable stream. BullMQ writes every job event of a queue to one
 * Redis stream; the API reads each queue's stream once (one QueueEvents per queue) and fans the
 * events out to the watchers of each job. Stream entry ids are the events' ids: a watcher that
 * reconnects with the last id it saw gets the missed events replayed from the stream (XRANGE),
 * then the live ones, each once and in stream order.
 */
import { JOB_TASKS, parseFailure, queueName, type JobReturn, type JobTask } from '@blip-jobs/shared';
import { QueueEvents, type JobProgress } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isFinalState, viewJob, type JobQueues, type JobStateName, type JobView } from './job-queues.js';

/** A state change, or progress reported by the worker (`{stage}`) while the job is active. */
export interface JobEvent extends Omit<JobView, 'progress'> {
  type: 'state' | 'progress';
  progress?: JobProgress;
}

export interface TrackedJobEvent {
  /** The stream entry id (`ms-seq`) the event is current as of; resume with it as lastEventId. */
  id: string;
  event: JobEvent;
}

export interface JobEventsOptions {
  queues: JobQueues;
  /** For XRANGE replays (non-blocking commands only). */
  redis: Redis;
  /** Where QueueEvents open their own blocking connections. */
  redisUrl: string;
  prefix: string;
  log: Logger;
}

/** One entry of a queue's event stream, fields as QueueEvents hands them over (progress and returnvalue parsed). */
interface StreamEvent {
  id: string;
  name: string;
  jobId: string;
  args: Record<string, unknown>;
}

/** The events that change what a watcher sees; others (added, duplicated, drained, ...) are skipped. */
const WATCHED = ['waiting', 'delayed', 'active', 'progress', 'completed', 'failed', 'removed'] as const;
const isWatched = (name: string): name is (typeof WATCHED)[number] => (WATCHED as readonly string[]).includes(name);

/** Stream ids compare as (ms, seq) pairs. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/** Snapshot attempts before accepting one that may repeat an event the job had meanwhile. */
const SNAPSHOT_TRIES = 3;
/** Entries per XRANGE page. */
const PAGE = 1000;

/** What a stream entry means to a watcher. */
function toJobEvent(e: StreamEvent): JobEvent | null {
  switch (e.name) {
    case 'progress':
      return { type: 'progress', state: 'active', progress: e.args['data'] as JobProgress };
    case 'completed': {
      const r = e.args['returnvalue'] as Partial<JobReturn> | null | undefined;
      return { type: 'state', state: 'completed', ...(r?.resultKey ? { resultKey: r.resultKey } : {}), ...(r?.modelVersion ? { modelVersion: r.modelVersion } : {}) };
    }
    case 'failed':
      return { type: 'state', state: 'failed', failure: parseFailure(e.args['failedReason'] as string | undefined) ?? { code: 'INTERNAL', message: 'failed without a reason' } };
    case 'waiting':
    case 'delayed':
    case 'active':
    case 'removed':
      return { type: 'state', state: e.name };
    default:
      return null;
  }
}

/** A FIFO that a watcher awaits; ends on abort or shutdown. */
class Inbox {
  private readonly items: StreamEvent[] = [];
  private wake: (() => void) | null = null;
  private ended = false;

  push(e: StreamEvent): void {
    this.items.push(e);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async next(signal: AbortSignal | undefined): Promise<StreamEvent | null> {
    for (;;) {
      const e = this.items.shift();
      if (e) return e;
      if (this.ended || signal?.aborted) return null;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        // Long streams wait many times on one signal: each wait removes its listener.
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

export class JobEvents {
  private readonly readers: QueueEvents[] = [];
  private readonly watchers = new Map<string, Set<Inbox>>();

  private constructor(private readonly opts: JobEventsOptions) {}

  /** Starts one reader per queue at the stream's current end, so no event between start and first read is lost. */
  static async open(opts: JobEventsOptions): Promise<JobEvents> {
    const events = new JobEvents(opts);
    for (const task of JOB_TASKS) {
      const lastEventId = (await events.lastId(task)) ?? '0-0';
      const qe = new QueueEvents(queueName(task), { connection: { url: opts.redisUrl }, prefix: opts.prefix, lastEventId });
      qe.on('error', (err) => opts.log.error({ err, queue: queueName(task) }, 'queue events reader failed'));
      const deliver = (name: string) => (args: { jobId: string }, id: string) => events.deliver({ id, name, jobId: args.jobId, args });
      qe.on('waiting', deliver('waiting'));
      qe.on('delayed', deliver('delayed'));
      qe.on('active', deliver('active'));
      qe.on('progress', deliver('progress'));
      qe.on('completed', deliver('completed'));
      qe.on('failed', deliver('failed'));
      qe.on('removed', deliver('removed'));
      events.readers.push(qe);
    }
    await Promise.all(events.readers.map((r) => r.waitUntilReady()));
    return events;
  }

  /** Ends the watches still open and stops the readers (the API cuts their connections first, so clients reconnect and resume). */
  async close(): Promise<void> {
    for (const set of this.watchers.values()) for (const inbox of set) inbox.end();
    this.watchers.clear();
    await Promise.all(this.readers.map((r) => r.close()));
  }

  /**
   * The job's current state first (or, with `lastEventId`, the events since), then every change,
   * until the job is completed, failed or removed, or `signal` aborts. The caller has checked
   * that the job exists and belongs to the tenant.
   */
  async *watch(task: JobTask, jobId: string, opts: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncGenerator<TrackedJobEvent> {
    // Subscribe before reading anything, so that no event falls between the reads and the live feed.
    const inbox = new Inbox();
    const set = this.watchers.get(jobId) ?? new Set();
    set.add(inbox);
    this.watchers.set(jobId, set);
    try {
      let last: string;
      let state: JobStateName;
      let resumed = false;
      if (opts.lastEventId && !(await this.trimmedSince(task, opts.lastEventId))) {
        last = opts.lastEventId;
        state = 'unknown';
        resumed = true;
      } else {
        const snap = await this.snapshot(task, jobId);
        yield snap;
        if (isFinalState(snap.event.state)) return;
        last = snap.id;
        state = snap.event.state;
      }

      const emit = (e: StreamEvent): TrackedJobEvent | null => {
        if (compareStreamIds(e.id, last) <= 0) return null;
        last = e.id;
        const event = toJobEvent(e);
        // A state the watcher already has (a snapshot that saw the change before its event) is skipped.
        if (!event || (event.type === 'state' && event.state === state)) return null;
        state = event.state;
        return { id: e.id, event };
      };

      for (const e of await this.range(task, last, jobId)) {
        const out = emit(e);
        if (out) yield out;
        if (isFinalState(state)) return;
      }
      if (resumed && isFinalState((await this.current(task, jobId)).state)) {
        // Finished: its final event is either just behind the replay or was seen before the reconnect.
        for (const e of await this.range(task, last, jobId)) {
          const out = emit(e);
          if (out) yield out;
        }
        return;
      }
      for (;;) {
        const e = await inbox.next(opts.signal);
        if (!e) return;
        const out = emit(e);
        if (out) yield out;
        if (isFinalState(state)) return;
      }
    } finally {
      set.delete(inbox);
      if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
    }
  }

  private deliver(e: StreamEvent): void {
    if (!isWatched(e.name)) return;
    for (const inbox of this.watchers.get(e.jobId) ?? []) inbox.push(e);
  }

  private eventsKey(task: JobTask): string {
    return this.opts.queues.get(task).toKey('events');
  }

  private async lastId(task: JobTask): Promise<string | null> {
    const [entry] = await this.opts.redis.xrevrange(this.eventsKey(task), '+', '-', 'COUNT', 1);
    return entry?.[0] ?? null;
  }

  /** True when the stream no longer reaches back to `id` (trimmed), so a replay could miss events. */
  private async trimmedSince(task: JobTask, id: string): Promise<boolean> {
    const [first] = await this.opts.redis.xrange(this.eventsKey(task), '-', '+', 'COUNT', 1);
    return first !== undefined && compareStreamIds(first[0], id) > 0;
  }

  /** Watched entries after `after`, of one job (or of all jobs when `jobId` is null), in order. */
  private async range(task: JobTask, after: string, jobId: string | null): Promise<StreamEvent[]> {
    const out: StreamEvent[] = [];
    let from = after;
    for (;;) {
      const page = await this.opts.redis.xrange(this.eventsKey(task), `(${from}`, '+', 'COUNT', PAGE);
      for (const [id, flat] of page) {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
        const { event: name = '', jobId: entryJob = '', ...rest } = fields;
        if (!isWatched(name) || (jobId !== null && entryJob !== jobId)) continue;
        // Parsed as QueueEvents parses them, so replayed and live events look the same.
        const args: Record<string, unknown> = { ...rest };
        if (name === 'progress' && rest['data'] !== undefined) args['data'] = JSON.parse(rest['data']);
        if (name === 'completed' && rest['returnvalue'] !== undefined) args['returnvalue'] = JSON.parse(rest['returnvalue']);
        out.push({ id, name, jobId: entryJob, args });
      }
      const tail = page.at(-1);
      if (page.length < PAGE || !tail) return out;
      from = tail[0];
    }
  }

  private async current(task: JobTask, jobId: string): Promise<JobView> {
    const job = await this.opts.queues.get(task).getJob(jobId);
    const state = job ? await job.getState() : 'removed';
    return job && state !== 'unknown' ? viewJob(job, state) : { state: 'removed', progress: 0 };
  }

  /**
   * The job's state with the stream id it is current as of: read the stream's end, then the
   * job, then check that the job had no event in between (else read again).
   */
  private async snapshot(task: JobTask, jobId: string): Promise<TrackedJobEvent> {
    let since = (await this.lastId(task)) ?? '0-0';
    for (let attempt = 1; ; attempt++) {
      const view = await this.current(task, jobId);
      const later = await this.range(task, since, null);
      const end = later.at(-1)?.id ?? since;
      if (!later.some((e) => e.jobId === jobId) || attempt === SNAPSHOT_TRIES) {
        // On the last try the id stays before the job's latest events: they may repeat, never go missing.
        return { id: later.some((e) => e.jobId === jobId) ? since : end, event: { type: 'state', ...view } };
      }
      since = end;
    }
  }
}
