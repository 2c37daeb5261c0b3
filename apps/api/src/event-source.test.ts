import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FetchEventSource } from './event-source.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe('FetchEventSource', () => {
  it('parses named events, ids and multi-line data, and reconnects with Last-Event-ID', async () => {
    const seen: (string | undefined)[] = [];
    server = createServer((req, res) => {
      seen.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (seen.length === 1) {
        // Split mid-line and with CRLF, then drop the connection.
        res.write('retry: 10\r\n: comment\r\nid: 1\r\ndata: {"a"');
        res.end(':1}\r\n\r\nevent: ping\ndata: \n\n');
      } else {
        res.write('id: 2\nevent: custom\ndata: line one\ndata: line two\n\n');
      }
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const es = new FetchEventSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const got: unknown[] = [];
    es.addEventListener('message', (e) => got.push(['message', (e as { data: string }).data, (e as { lastEventId: string }).lastEventId]));
    es.addEventListener('ping', () => got.push(['ping']));
    const custom = new Promise<void>((resolve) =>
      es.addEventListener('custom', (e) => {
        got.push(['custom', (e as { data: string }).data, (e as { lastEventId: string }).lastEventId]);
        resolve();
      }),
    );
    await custom;
    es.close();
    expect(es.readyState).toBe(es.CLOSED);
    expect(got).toEqual([['message', '{"a":1}', '1'], ['ping'], ['custom', 'line one\nline two', '2']]);
    expect(seen).toEqual([undefined, '1']);
  });

  it('gives up on a refused connection, as browsers do', async () => {
    server = createServer((_req, res) => res.writeHead(401).end());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const es = new FetchEventSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await new Promise<void>((resolve) => es.addEventListener('error', () => resolve()));
    expect(es.readyState).toBe(es.CLOSED);
  });
});
