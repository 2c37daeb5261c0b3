/**
 * The worker's small HTTP surface for the orchestrator and Prometheus:
 *   GET /metrics       Prometheus text format
 *   GET /health/live   200 while the process can serve; 503 once a model's worker thread died
 *                      (a failing probe restarts the container)
 *   GET /health/ready  200 once the model is loaded and the queue workers run; 503 before that,
 *                      after a model died and while shutting down
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface WorkerHttpServerOptions {
  host: string;
  /** 0 picks a free port (tests); the worker does not start the server when WORKER_HTTP_PORT is 0. */
  port: number;
  registry: Registry;
  isReady: () => boolean;
  /** Why the process can no longer serve (live → 503 with this text); undefined while it can. */
  liveness?: () => string | undefined;
}

export class WorkerHttpServer {
  private readonly server: http.Server;

  constructor(private readonly opts: WorkerHttpServerOptions) {
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
  }

  /** Starts listening; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    try {
      switch (path) {
        case '/metrics':
          return send(200, await this.opts.registry.metrics(), this.opts.registry.contentType);
        case '/health/live': {
          const dead = this.opts.liveness?.();
          return dead === undefined ? send(200, 'ok\n') : send(503, `${dead}\n`);
        }
        case '/health/ready':
          return this.opts.isReady() ? send(200, 'ready\n') : send(503, 'not ready\n');
        default:
          return send(404, 'not found\n');
      }
    } catch (err) {
      send(500, `${(err as Error).message}\n`);
    }
  }
}
