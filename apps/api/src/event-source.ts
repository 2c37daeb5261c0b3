/**
 * A minimal EventSource over fetch, for runtimes without one (Node 20): enough of the WHATWG
 * interface for tRPC's httpSubscriptionLink. It parses the SSE wire format, dispatches named
 * events, and reconnects after a dropped stream with the Last-Event-ID header, as browsers do.
 */

interface SseMessageEvent {
  type: string;
  data: string;
  lastEventId: string;
}

type Listener = (event: SseMessageEvent | { type: string }) => void;

/** Wait before reconnecting when the server sent no `retry:` field. */
const DEFAULT_RETRY_MS = 1000;

export class FetchEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;

  readyState = 0;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly abort = new AbortController();
  private lastEventId = '';
  private retryMs = DEFAULT_RETRY_MS;

  constructor(readonly url: string) {
    void this.run();
  }

  addEventListener(type: string, listener: Listener): void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.get(type)?.delete(listener);
  }

  close(): void {
    this.readyState = this.CLOSED;
    this.abort.abort();
  }

  private dispatch(event: SseMessageEvent | { type: string }): void {
    for (const l of this.listeners.get(event.type) ?? []) l(event);
  }

  private async run(): Promise<void> {
    while (this.readyState !== this.CLOSED) {
      try {
        const res = await fetch(this.url, {
          headers: { accept: 'text/event-stream', ...(this.lastEventId ? { 'last-event-id': this.lastEventId } : {}) },
          signal: this.abort.signal,
        });
        if (!res.ok || !res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
          // Like a browser: a refused connection is final.
          this.readyState = this.CLOSED;
          this.dispatch({ type: 'error' });
          return;
        }
        this.readyState = this.OPEN;
        this.dispatch({ type: 'open' });
        await this.read(res.body);
      } catch {
        // Network failure or close(): handled below.
      }
      if (this.readyState === this.CLOSED) return;
      this.readyState = this.CONNECTING;
      this.dispatch({ type: 'error' });
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let type = '';
    let data: string[] = [];
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let eol: RegExpExecArray | null;
      while ((eol = /\r\n|\r|\n/.exec(buffer))) {
        // A lone \r at the end may be the first half of \r\n: wait for more.
        if (eol[0] === '\r' && eol.index === buffer.length - 1) break;
        const line = buffer.slice(0, eol.index);
        buffer = buffer.slice(eol.index + eol[0].length);
        if (line === '') {
          if (data.length) this.dispatch({ type: type || 'message', data: data.join('\n'), lastEventId: this.lastEventId });
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
        else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
      }
    }
  }
}
