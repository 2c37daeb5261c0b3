import { describe, expect, it } from 'vitest';
import { refusedHost, sniffImageType } from './image-resolver.js';

describe('refusedHost', () => {
  it('refuses private, loopback, link-local, metadata and reserved literal addresses', () => {
    for (const url of [
      'https://127.0.0.1/x',
      'https://0x7f.1/x',
      'https://2130706433/x',
      'https://10.0.0.8/x',
      'https://172.16.5.4/x',
      'https://172.31.255.255/x',
      'https://192.168.1.1/x',
      'https://169.254.169.254/x',
      'https://100.64.0.1/x',
      'https://0.0.0.0/x',
      'https://224.0.0.1/x',
      'https://[::1]/x',
      'https://[::]/x',
      'https://[::ffff:127.0.0.1]/x',
      'https://[fd00:ec2::254]/x',
      'https://[fe80::1]/x',
      'https://localhost/x',
      'https://LOCALHOST./x',
      'https://api.localhost/x',
    ]) {
      expect(refusedHost(new URL(url).hostname), url).not.toBeNull();
    }
  });

  it('lets public addresses and names through (the worker checks what names resolve to)', () => {
    for (const url of ['https://8.8.8.8/x', 'https://172.32.0.1/x', 'https://[2606:4700::1111]/x', 'https://[::ffff:8.8.8.8]/x', 'https://images.example.com/x', 'https://10.example.com/x']) {
      expect(refusedHost(new URL(url).hostname), url).toBeNull();
    }
  });
});

describe('sniffImageType', () => {
  const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  it('knows the formats by their first bytes', () => {
    expect(sniffImageType(b([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageType(b([0x89], 'PNG\r\n\x1a\n'))).toBe('png');
    expect(sniffImageType(b('GIF89a'))).toBe('gif');
    expect(sniffImageType(b('RIFF', [1, 2, 3, 4], 'WEBPVP8 '))).toBe('webp');
    expect(sniffImageType(b([0, 0, 0, 0x1c], 'ftypavif'))).toBe('avif');
    expect(sniffImageType(b('II*\0'))).toBe('tiff');
    expect(sniffImageType(b('MM\0*'))).toBe('tiff');
    expect(sniffImageType(b('BM', [0, 0]))).toBe('bmp');
  });

  it('refuses everything else', () => {
    for (const x of [b('hello'), b('<svg xmlns="http://www.w3.org/2000/svg"/>'), b('%PDF-1.7'), b([0xff, 0xd8]), b('RIFF', [0, 0, 0, 0], 'WAVE'), b([0, 0, 0, 0x1c], 'ftypheic'), Buffer.alloc(0)]) {
      expect(sniffImageType(x)).toBeNull();
    }
  });
});
