import { FileStorage } from '@blip-jobs/shared/storage';
import { describe, expect, it } from 'vitest';
import { Uploads } from './uploads.js';

const storage = new FileStorage('/nonexistent-for-signing-only');

describe('Uploads tokens', () => {
  it('grant their key until they expire, and only with the secret that signed them', async () => {
    const now = 1_700_000_000_000;
    const uploads = new Uploads({ storage, signingSecret: 's3cret', ttlS: 900, maxBytes: 100 });
    const ticket = await uploads.create('acme', 'https://api.example.com', undefined, now);
    expect(ticket.url).toMatch(/^https:\/\/api\.example\.com\/uploads\/[\w-]+\.[\w-]+$/);
    expect(ticket.expiresAt).toBe(now + 900_000);
    const token = ticket.url.slice(ticket.url.lastIndexOf('/') + 1);
    const key = ticket.uploadId.slice('upload:'.length);
    expect(uploads.verify(token, now + 899_999)).toBe(key);
    expect(uploads.verify(token, now + 900_000)).toBeNull();
    // The same secret in another replica accepts it; another secret does not.
    expect(new Uploads({ storage, signingSecret: 's3cret', ttlS: 900, maxBytes: 100 }).verify(token, now)).toBe(key);
    expect(new Uploads({ storage, ttlS: 900, maxBytes: 100 }).verify(token, now)).toBeNull();
  });
});
