/**
 * API keys → tenants. Keys are hashed when the API starts and only the hashes are kept; a key is
 * checked against every hash with timingSafeEqual, so neither the answer time nor a memory dump
 * gives a key away.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseApiKeys } from '@blip-jobs/shared';

/** Tenant names become storage keys (`uploads/{tenant}/…`) and Redis keys. */
const TENANT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Equal-length digests compared in constant time. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ApiKeyAuth {
  private readonly entries: { tenant: string; hash: Buffer }[];

  /** `spec` is API_KEYS (`tenant:key,tenant:key`); throws on a malformed entry or tenant name. */
  constructor(spec: string) {
    this.entries = parseApiKeys(spec).map(({ tenant, key }) => {
      if (!TENANT_NAME.test(tenant)) {
        throw new Error(`API_KEYS tenant ${JSON.stringify(tenant)} must be 1-64 characters of [A-Za-z0-9._-]`);
      }
      return { tenant, hash: sha256(key) };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** The key's tenant, or null for an unknown key. */
  tenantOf(key: string): string | null {
    const hash = sha256(key);
    let tenant: string | null = null;
    // No early exit: every entry is compared whatever matches.
    for (const e of this.entries) if (sameDigest(hash, e.hash)) tenant = e.tenant;
    return tenant;
  }
}

/** The key of a request: `Authorization: Bearer <key>`, `x-api-key`, or (SSE) connectionParams.apiKey. */
export function apiKeyFrom(
  headers: Record<string, string | string[] | undefined>,
  connectionParams: Record<string, string | undefined> | null | undefined,
): string | null {
  const auth = headers['authorization'];
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m?.[1]) return m[1];
  }
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header.trim()) return header.trim();
  return connectionParams?.['apiKey'] ?? null;
}
