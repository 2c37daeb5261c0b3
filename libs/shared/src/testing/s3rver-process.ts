/**
 * A real S3-protocol server for tests: s3rver in its own process (it needs the legacy OpenSSL
 * provider for its continuation tokens), on a free loopback port, with buckets created at start.
 * Integration tests talk to it over HTTP with the real AWS SDK; nothing is imitated in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { S3ClientOptions } from '../storage/s3-storage.js';

export interface S3rverProcess {
  endpoint: string;
  /** Client options for this server (path style, s3rver's fixed credentials). */
  s3: S3ClientOptions;
  /** Environment variables that point the apps' configuration at this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts s3rver with `buckets` created; resolves once it listens. */
export async function startS3rver(buckets: readonly string[]): Promise<S3rverProcess> {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const dir = await mkdtemp(path.join(tmpdir(), 's3rver-'));
  const args = [bin, '-d', dir, '-a', '127.0.0.1', '-p', '0', '--no-vhost-buckets'];
  for (const b of buckets) args.push('--configure-bucket', b);
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on .*?:(\d+)/i.exec(out) ?? /port[^\d]*(\d{2,5})/i.exec(out);
      if (m) {
        child.stdout?.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before listening:\n${out}`)));
    setTimeout(() => reject(new Error(`s3rver did not start within 15 s:\n${out}`)), 15_000).unref();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  return {
    endpoint,
    s3: { endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
    env: {
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
