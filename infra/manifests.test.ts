/**
 * The Kubernetes manifests agree with the code: every variable they set is one the apps read,
 * probes and ports are the ones the apps serve, and the autoscaler scales the worker Deployment
 * on the backlog that includes prioritized jobs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigSchema } from '@blip-jobs/shared';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'k8s');
type Doc = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> };
const docs: Doc[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(path.join(DIR, f), 'utf8')).map((d) => d.toJS() as Doc));
const byKind = (kind: string, name: string) => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name} in infra/k8s`);
  return d;
};
/** Variables the code reads besides ConfigSchema: the AWS SDK's credential chain. */
const SDK_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION'];
const known = new Set([...Object.keys(ConfigSchema.shape), ...SDK_VARS]);

describe('infra/k8s', () => {
  it('sets only variables the configuration knows, and they parse', () => {
    const env: Record<string, string> = { ...byKind('ConfigMap', 'blip-jobs').data, ...byKind('Secret', 'blip-jobs').stringData };
    for (const d of docs.filter((x) => x.kind === 'Deployment')) {
      for (const c of d.spec.template.spec.containers) for (const e of c.env ?? []) env[e.name] = e.value;
    }
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    expect(ConfigSchema.safeParse(env).success).toBe(true);
  });

  it('probes the endpoints the apps serve, on the ports they listen on', () => {
    for (const [name, portVar] of [
      ['blip-api', 'API_PORT'],
      ['blip-gpu-worker', 'WORKER_HTTP_PORT'],
    ] as const) {
      const c = byKind('Deployment', name).spec.template.spec.containers[0];
      expect(c.livenessProbe.httpGet.path).toBe('/health/live');
      expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
      const port = c.ports.find((p: { name: string }) => p.name === c.readinessProbe.httpGet.port);
      expect(String(port.containerPort)).toBe(c.env.find((e: { name: string }) => e.name === portVar).value);
    }
  });

  it('scales the worker from zero on waiting + prioritized jobs, with a grace period for the batch in flight', () => {
    const so = byKind('ScaledObject', 'blip-gpu-worker');
    expect(so.spec.scaleTargetRef.name).toBe(byKind('Deployment', 'blip-gpu-worker').metadata.name);
    expect(so.spec.minReplicaCount).toBe(0);
    const query: string = so.spec.triggers[0].metadata.query;
    expect(query).toContain('blip_queue_jobs');
    expect(query).toMatch(/waiting\|prioritized|prioritized\|waiting/);
    const worker = byKind('Deployment', 'blip-gpu-worker').spec.template.spec;
    expect(worker.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    expect(worker.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
  });
});
