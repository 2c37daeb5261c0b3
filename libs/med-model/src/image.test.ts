import { readFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE_LIMITS, decodeAndResize, ImageError, normalize, preprocess } from './image.js';
import { PARITY_FIXTURE, REPO_ROOT, testModelDir } from './test-model.js';
import { resizeBicubicPIL } from './pil-resample.js';

const MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
const STD = [0.26862954, 0.26130258, 0.27577711] as const;

type RGB = readonly [number, number, number];
const RED: RGB = [255, 0, 0];
const BLUE: RGB = [0, 0, 255];

/** A w×h raw RGB(A) image whose pixel (x, y) is `color(x, y)`. */
function rawImage(w: number, h: number, channels: 3 | 4, color: (x: number, y: number) => readonly number[]) {
  const data = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set(color(x, y).slice(0, channels), (y * w + x) * channels);
  }
  return sharp(data, { raw: { width: w, height: h, channels } });
}

/** Left half red, right half blue. */
const halves = (w: number, h: number) => rawImage(w, h, 3, (x) => (x < w / 2 ? RED : BLUE));

function pixel(rgb: Uint8Array, size: number, x: number, y: number): number[] {
  const i = (y * size + x) * 3;
  return [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
}

function expectNear(actual: readonly number[], expected: readonly number[], tol: number) {
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!), `channel ${i}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tol));
}

async function rejection(p: Promise<unknown>): Promise<ImageError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return e as ImageError;
  }
  throw new Error('expected an ImageError, the promise resolved');
}

/** A real w×h PNG whose IHDR is patched to claim claimW×claimH (CRC recomputed, so it parses). */
async function lyingPng(claimW: number, claimH: number): Promise<Uint8Array> {
  const png = Buffer.from(await rawImage(1, 1, 3, () => RED).png().toBuffer());
  // 8-byte signature, then the IHDR chunk: length (4) "IHDR" (4) width (4) height (4) ... crc.
  expect(png.toString('latin1', 12, 16)).toBe('IHDR');
  png.writeUInt32BE(claimW, 16);
  png.writeUInt32BE(claimH, 20);
  png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)), 29);
  return png;
}

describe('decodeAndResize: formats', () => {
  const encoders: Record<string, (s: Sharp) => Sharp> = {
    jpeg: (s) => s.jpeg({ quality: 95 }),
    png: (s) => s.png(),
    webp: (s) => s.webp({ quality: 95 }),
    gif: (s) => s.gif(),
    avif: (s) => s.avif({ quality: 90 }),
    tiff: (s) => s.tiff(),
  };
  it.each(Object.keys(encoders))('%s decodes to size×size×3', async (fmt) => {
    const bytes = await encoders[fmt]!(halves(48, 32)).toBuffer();
    const out = await decodeAndResize(bytes, 16);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(out.length).toBe(16 * 16 * 3);
    expectNear(pixel(out, 16, 2, 8), RED, 40);
    expectNear(pixel(out, 16, 13, 8), BLUE, 40);
  });

  it('GIF animation: the first frame', async () => {
    const frames = [await rawImage(8, 8, 3, () => RED).png().toBuffer(), await rawImage(8, 8, 3, () => BLUE).png().toBuffer()];
    const gif = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
    const meta = await sharp(gif).metadata();
    expect(meta.pages).toBe(2); // the fixture really is animated
    const out = await decodeAndResize(gif, 4);
    expect(out.length).toBe(4 * 4 * 3);
    for (let p = 0; p < 16; p++) expect([out[p * 3], out[p * 3 + 1], out[p * 3 + 2]]).toEqual([...RED]);
  });

  it('applies EXIF orientation 6 (rotate 90° clockwise)', async () => {
    // Stored 8×4: red | blue. Displayed 4×8: red above blue.
    const bytes = await halves(8, 4).withMetadata({ orientation: 6 }).png().toBuffer();
    expect((await sharp(bytes).metadata()).orientation).toBe(6);
    const out = await decodeAndResize(bytes, 8);
    for (const x of [0, 3, 7]) {
      expect(pixel(out, 8, x, 1)).toEqual([...RED]);
      expect(pixel(out, 8, x, 6)).toEqual([...BLUE]);
    }
  });

  it('drops alpha without compositing (PIL convert("RGB"))', async () => {
    const halfRed = await rawImage(4, 4, 4, () => [255, 0, 0, 128]).png().toBuffer();
    const out = await decodeAndResize(halfRed, 3);
    for (let p = 0; p < 9; p++) expect([out[p * 3], out[p * 3 + 1], out[p * 3 + 2]]).toEqual([...RED]);
  });

  it('drops alpha before resizing: the colour under transparent pixels counts, as in PIL', async () => {
    // sharp premultiplies alpha when it resizes an image that has one; PIL has dropped it by then.
    const rgba = (x: number, y: number) => ((x + y) % 2 === 0 ? [255, 0, 0, 255] : [0, 0, 255, 0]);
    const withAlpha = await rawImage(9, 7, 4, rgba).png().toBuffer();
    const without = await rawImage(9, 7, 3, rgba).png().toBuffer();
    expect(await decodeAndResize(withAlpha, 4)).toEqual(await decodeAndResize(without, 4));
  });

  it('grayscale becomes 3 equal channels', async () => {
    const gray = await sharp(Buffer.from([0, 60, 120, 250]), { raw: { width: 2, height: 2, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const out = await decodeAndResize(gray, 2);
    expect(Array.from(out)).toEqual([0, 0, 0, 60, 60, 60, 120, 120, 120, 250, 250, 250]);
  });
});

describe('decodeAndResize: limits and bad input', () => {
  it('documents its defaults', () => {
    expect(DEFAULT_IMAGE_LIMITS).toEqual({ maxBytes: 20 * 1024 * 1024, maxPixels: 40_000_000, maxDimension: 16384 });
  });

  it('rejects a pixel bomb from its header, without decoding', async () => {
    const bomb = await lyingPng(50000, 50000);
    expect(bomb.length).toBeLessThan(100);
    const t0 = performance.now();
    const e = await rejection(decodeAndResize(bomb, 384));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e.code).toBe('TOO_MANY_PIXELS');
    expect(e.message).toMatch(/50000×50000/);
  });

  it('rejects too many pixels and too long a side', async () => {
    const e1 = await rejection(decodeAndResize(await lyingPng(8000, 6000), 384));
    expect(e1.code).toBe('TOO_MANY_PIXELS');
    expect(e1.details).toMatchObject({ width: 8000, height: 6000, maxPixels: 40_000_000 });
    const e2 = await rejection(decodeAndResize(await lyingPng(20000, 10), 384));
    expect(e2.code).toBe('TOO_MANY_PIXELS');
    expect(e2.message).toMatch(/at most 16384/);
    const small = await halves(40, 30).png().toBuffer();
    const e3 = await rejection(decodeAndResize(small, 8, { maxPixels: 1000 }));
    expect(e3.details).toMatchObject({ pixels: 1200, maxPixels: 1000 });
    expect((await decodeAndResize(small, 8, { maxPixels: 1200 })).length).toBe(192);
  });

  it('rejects input over maxBytes before looking at it', async () => {
    const e = await rejection(decodeAndResize(new Uint8Array(25 * 1024 * 1024), 384));
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.message).toBe('image is 25.0 MiB, the limit is 20.0 MiB');
    const png = await halves(40, 30).png().toBuffer();
    const e2 = await rejection(decodeAndResize(png, 8, { maxBytes: 50 }));
    expect(e2.code).toBe('IMAGE_TOO_LARGE');
    expect(e2.details).toEqual({ bytes: png.length, maxBytes: 50 });
  });

  it('rejects empty input', async () => {
    expect((await rejection(decodeAndResize(new Uint8Array(0), 384))).code).toBe('EMPTY_IMAGE');
  });

  it('rejects bytes that are not an image', async () => {
    const e = await rejection(decodeAndResize(Buffer.from('hello, this is not an image\n'), 384));
    expect(['UNSUPPORTED_FORMAT', 'CORRUPT_IMAGE']).toContain(e.code);
    expect(typeof e.details['sharp']).toBe('string');
  });

  it('rejects a truncated JPEG as CORRUPT_IMAGE', async () => {
    const noise = rawImage(64, 64, 3, (x, y) => [(x * 37 + y * 11) % 256, (x * y) % 256, (x + y * 53) % 256]);
    const jpeg = await noise.jpeg({ quality: 90 }).toBuffer();
    const e = await rejection(decodeAndResize(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 32));
    expect(e.code).toBe('CORRUPT_IMAGE');
    expect(e.details['stage']).toBe('pixels');
    expect(typeof e.details['sharp']).toBe('string');
  });

  it('rejects SVG as UNSUPPORTED_FORMAT', async () => {
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>',
    );
    const e = await rejection(decodeAndResize(svg, 8));
    expect(e.code).toBe('UNSUPPORTED_FORMAT');
    expect(e.details['format']).toBe('svg');
  });

  it('rejects a bad size', async () => {
    const png = await halves(4, 4).png().toBuffer();
    await expect(decodeAndResize(png, 0)).rejects.toThrow(RangeError);
    await expect(decodeAndResize(png, 2.5)).rejects.toThrow(RangeError);
  });
});

/**
 * blip/image.py `normalize` on every uint8 value (rgb[..., c] = 0..255, a 16×16 image), float32
 * little-endian CHW, base64. Generated once with /usr/bin/python3 (numpy 1.24.2):
 *   rgb = np.stack([np.arange(256, dtype=np.uint8)] * 3, -1).reshape(16, 16, 3)
 *   base64.b64encode(blip.image.normalize(rgb).astype('<f4').tobytes())
 */
const NUMPY_NORMALIZED_B64 = [
  '3Gjlv3+K478jrOG/xs3fv2rv3b8NEdy/sTLav1RU2L/4dda/m5fUvz+50r/i2tC/hvzOvykezb/NP8u/cWHJvxSDx7+4pMW/W8bD',
  'v//nwb+iCcC/Riu+v+lMvL+Nbrq/MJC4v9Sxtr9307S/G/Wyv74Wsb9iOK+/Blqtv6l7q79Nnam/8L6nv5Tgpb83AqS/2yOiv35F',
  'oL8iZ56/xYicv2mqmr8MzJi/sO2Wv1QPlb/3MJO/m1KRvz50j7/ilY2/hbeLvynZib/M+oe/cByGvxM+hL+3X4K/WoGAv/xFfb9D',
  'iXm/isx1v9EPcr8YU26/XpZqv6XZZr/sHGO/M2Bfv3qjW7/B5le/CCpUv09tUL+WsEy/3fNIvyQ3Rb9rekG/sr09v/kAOr9ARDa/',
  'h4cyv87KLr8VDiu/XVEnv6SUI7/r1x+/Mhscv3leGL/AoRS/B+UQv04oDb+Vawm/3K4FvyPyAb/Vavy+Y/H0vvF37b5//uW+DYXe',
  'vpsL174pks++txjIvkafwL7UJbm+YqyxvvAyqr5+uaK+DECbvprGk74pTYy+t9OEvoq0er6mwWu+ws5cvt/bTb776D6+F/YvvjMD',
  'Ib5QEBK+bB0DvhBV6L1Jb8q9gYmsvbqjjr3le2G9VrAlvY7J07zhZDi8bCVbO8v7kjx1SQU9BBVBPZLgfD0gVpw95zu6Pa4h2D12',
  'B/Y9n/YJPoLpGD5m3Cc+Ss82Pi7CRT4RtVQ+9adjPtmacj7exoA+UECIPsK5jz40M5c+pqyePhgmpj6Jn60++xi1Pm2SvD7fC8Q+',
  'UYXLPsP+0j41eNo+pvHhPhhr6T6K5PA+/F34Pm7X/z5wqAM/KWUHP+IhCz+b3g4/VJsSPw1YFj/FFBo/ftEdPzeOIT/wSiU/qQcp',
  'P2LELD8bgTA/1D00P436Nz9Gtzs//3M/P7gwQz9x7UY/KqpKP+NmTj+bI1I/VOBVPw2dWT/GWV0/fxZhPzjTZD/xj2g/qkxsP2MJ',
  'cD8cxnM/1YJ3P44/ez9H/H4/gFyBP9w6gz85GYU/lfeGP/LViD9OtIo/q5KMPwdxjj9kT5A/wC2SPxwMlD956pU/1ciXPzKnmT+O',
  'hZs/62OdP0dCnz+kIKE/AP+iP13dpD+5u6Y/FpqoP3J4qj/PVqw/KzWuP4cTsD/k8bE/QNCzP52utT/5jLc/Vmu5P7JJuz8PKL0/',
  'awa/P8jkwD8kw8I/gaHEP91/xj86Xsg/ljzKP/IazD9P+c0/q9fPPwi20T9klNM/wXLVPx1R1z96L9k/1g3bPzPs3D+Pyt4/7Kjg',
  'P0iH4j+kZeQ/AUTmP10i6D+6AOo/Ft/rP3O97T/Pm+8/LHrxP4hY8z/lNvU/QRX3P7hE4L/xWN6/K23cv2WB2r+fldi/2KnWvxK+',
  '1L9M0tK/hebQv7/6zr/5Ds2/MyPLv2w3yb+mS8e/4F/Fvxp0w79TiMG/jZy/v8ewvb8Axbu/Otm5v3Ttt7+uAba/5xW0vyEqsr9b',
  'PrC/lVKuv85mrL8Ie6q/Qo+ov3ujpr+1t6S/78uivyngoL9i9J6/nAidv9Ycm78QMZm/SUWXv4NZlb+9bZO/9oGRvzCWj79qqo2/',
  'pL6Lv93Sib8X54e/UfuFv4sPhL/EI4K//jeAv2+YfL/jwHi/Vel0v8kRcb88Om2/sGJpvyOLZb+Xs2G/Ctxdv30EWr/xLFa/ZFVS',
  'v9h9Tr9Kpkq/vs5GvzH3Qr+lHz+/GEg7v4xwN7//mDO/csEvv+bpK79ZEii/zTokv0BjIL+0ixy/J7QYv5vcFL8OBRG/gi0Nv/VV',
  'Cb9ofgW/3KYBv5+e+76G7/O+bEDsvlOR5L464ty+ITPVvgiEzb7v1MW+1iW+vr12tr6kx66+ixinvnJpn75Yupe+PwuQviZciL4N',
  'rYC+6PtxvradYr6EP1O+UeFDvh+DNL7tJCW+u8YVvoloBr6tFO69SVjPveSbsL2A35G9N0ZmvW7NKL1Lqda8cm83vMPOeTtqK5o8',
  'fo4KPUcHSD0IwII9bHyhPdA4wD019d49mbH9Pf82Dj4xlR0+a/MsPp1RPD7Pr0s+AQ5bPjRsaj5mynk+TJSEPmVDjD5+8pM+l6Gb',
  'PrBQoz7J/6o+466yPvxduj4VDcI+LrzJPkdr0T5gGtk+ecngPpJ46D6rJ/A+xNb3Pt6F/z57mgM/CHIHP5RJCz8hIQ8/rvgSPzrQ',
  'Fj/Hpxo/U38eP+BWIj9sLiY/+QUqP4XdLT8StTE/now1PytkOT+4Oz0/RBNBP9HqRD9dwkg/6plMP3ZxUD8DSVQ/jyBYPxz4Wz+p',
  'z18/NadjP8J+Zz9OVms/2y1vP2cFcz/03HY/gLR6Pw2Mfj/NMYE/kx2DP1kJhT8g9YY/5uCIP6zMij9yuIw/OaSOP/+PkD/Fe5I/',
  'i2eUP1JTlj8YP5g/3iqaP6UWnD9rAp4/Me6fP/fZoT++xaM/hLGlP0qdpz8Qiak/13SrP51grT9jTK8/KjixP/Ajsz+2D7U/fPu2',
  'P0PnuD8J07o/z768P5Wqvj9clsA/IoLCP+htxD+vWcY/dUXIPzsxyj8BHcw/yAjOP470zz9U4NE/G8zTP+G31T+no9c/bY/ZPzR7',
  '2z/6Zt0/wFLfP4Y+4T9NKuM/ExblP9kB5z+g7eg/ZtnqPyzF7D/ysO4/uZzwP3+I8j9FdPQ/C2D2P9JL+D+YN/o/XiP8PyUP/j/r',
  '+v8/WfMAQDzpAUAf3wJAAtUDQOXKBEDYd72/4aW7v+vTub/0Abi//S+2vwdetL8QjLK/GrqwvyPorr8tFq2/NkSrv0Byqb9JoKe/',
  'Us6lv1z8o79lKqK/b1igv3iGnr+CtJy/i+Kav5UQmb+ePpe/p2yVv7Gak7+6yJG/xPaPv80kjr/XUoy/4ICKv+quiL/z3Ia//AqF',
  'vwU5g78OZ4G/MCp/v0OGe79W4ne/aD50v3uacL+O9my/oVJpv7WuZb/ICmK/22Zev+7CWr8AH1e/E3tTvybXT785M0y/TI9Iv1/r',
  'RL9yR0G/haM9v5j/Ob+rWza/vbcyv9ATL7/jbyu/9ssnvwkoJL8chCC/L+Acv0I8Gb9VmBW/Z/QRv3lQDr+MrAq/nwgHv7JkA7+K',
  'gf++sDn4vtbx8L77qem+IWLivkca275t0tO+k4rMvrhCxb7e+r2+BLO2viprr75PI6i+ddugvpuTmb7BS5K+5wOLvgy8g75k6Hi+',
  'sFhqvvvIW75HOU2+k6k+vt4ZML4qiiG+dfoSvsFqBL4Ztuu9sJbOvUd3sb3eV5S963BuvRkyNL2P5vO82NF+vIe0rrq2JFM8/g/e',
  'PNFGKT2jhWM9OuKOPaMBrD0MIck9dUDmPe+vAT6jPxA+WM8ePgxfLT7B7js+dX5KPikOWT7enWc+ki12PqNegj5+pok+WO6QPjI2',
  'mD4Mfp8+5sWmPsQNrj6eVbU+eZ28PlPlwz4tLcs+B3XSPuK82T68BOE+lkzoPnCU7z5K3PY+JST+Pv+1Aj/tWQY/2v0JP8ehDT+0',
  'RRE/oekUP46NGD97MRw/aNUfP1V5Iz9CHSc/MMEqPx1lLj8KCTI/96w1P+RQOT/R9Dw/vphAP6s8RD+Y4Ec/hoRLP3MoTz9gzFI/',
  'TXBWPzoUWj8nuF0/FFxhPwEAZT/uo2g/3EdsP8nrbz+2j3M/ozN3P5DXej99e34/tQ+BP6zhgj+is4Q/mYWGP49XiD+GKYo/fPuL',
  'P3PNjT9qn48/YHGRP1dDkz9NFZU/ROeWPzq5mD8xi5o/J12cPx4vnj8UAaA/C9OhPwKloz/4dqU/70inP+UaqT/c7Ko/0r6sP8mQ',
  'rj+/YrA/tjSyP60GtD+j2LU/mqq3P5B8uT+HTrs/fSC9P3Tyvj9qxMA/YZbCP1hoxD9OOsY/RQzIPzveyT8ysMs/KILNPx9Uzz8V',
  'JtE/DPjSPwPK1D/5m9Y/8G3YP+Y/2j/dEdw/0+PdP8q13z/Ah+E/t1njP64r5T+k/eY/nM/oP5Ch6j+Jc+w/fUXuP3YX8D9q6fE/',
  'Y7vzP1iN9T9QX/c/RTH5Pz0D+z8y1fw/Kqf+P488AECMJQFAhg4CQIL3AkB94ANAeckEQHOyBUBvmwZAaoQHQGZtCEBgVglA',].join('');

describe('normalize', () => {
  it('is bit-identical to numpy float32 for every value and channel', () => {
    const expected = new Float32Array(new Uint8Array(Buffer.from(NUMPY_NORMALIZED_B64, 'base64')).buffer);
    expect(expected.length).toBe(3 * 256);
    const rgb = new Uint8Array(256 * 3);
    for (let v = 0; v < 256; v++) rgb.set([v, v, v], v * 3);
    const out = normalize(rgb, 16, MEAN, STD);
    expect(out).toBeInstanceOf(Float32Array);
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
    expect(bits(out)).toEqual(bits(expected));
  });

  it('lays out CHW from HWC', () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]); // 2×2
    const out = normalize(rgb, 2, [0, 0, 0], [1, 1, 1]);
    expect(Array.from(out)).toEqual([1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]);
  });

  it('checks its arguments', () => {
    expect(() => normalize(new Uint8Array(11), 2, MEAN, STD)).toThrow(/12 bytes/);
    expect(() => normalize(new Uint8Array(12), 2, [0, 0], STD)).toThrow(/3 values/);
  });
});

describe('preprocess', () => {
  it('decodes, resizes and normalises to [3, S, S] float32', async () => {
    const png = await halves(48, 32).png().toBuffer();
    const out = await preprocess(png, 16, { mean: MEAN, std: STD });
    expect(out.length).toBe(3 * 16 * 16);
    expect(out).toEqual(normalize(await decodeAndResize(png, 16), 16, MEAN, STD));
    // Red channel, top-left pixel (red): (1 - mean) / std.
    expect(out[0]).toBeCloseTo((1 - MEAN[0]) / STD[0], 5);
  });
});

const PARITY_FILE = path.join(testModelDir(), PARITY_FIXTURE);

describe('PIL-exact bicubic resize', () => {
  it('reproduces PIL byte for byte on the parity fixture images (PNG decode + resize)', async () => {
    const fixture = JSON.parse(readFileSync(PARITY_FILE, 'utf8')) as {
      image_size: number;
      images: Array<{ file: string; resized_rgb_b64: string }>;
    };
    const size = fixture.image_size;
    expect(fixture.images.length).toBeGreaterThan(0);
    for (const img of fixture.images) {
      const ref = new Uint8Array(Buffer.from(img.resized_rgb_b64, 'base64'));
      const out = await decodeAndResize(readFileSync(path.resolve(REPO_ROOT, img.file)), size);
      expect(Buffer.from(out).equals(Buffer.from(ref)), img.file).toBe(true);
    }
  });

  // sha256 of PIL 9.4 `Image.fromarray(img).resize((ow, oh), Image.BICUBIC)` for the synthetic
  // pattern below, computed once with /usr/bin/python3 (numpy + PIL): shrinking, enlarging,
  // mixed, identity.
  const PIL_DIGESTS: [number, number, number, number, string][] = [
    [37, 23, 64, 64, 'c0892d2427d5562494405e14c823aef28338a33200264f4b5fa4d82bde581b91'],
    [200, 150, 64, 64, '4b74abec7f85fd2fbfcd711069d13737af56430175ab06c04446c9a2677a376d'],
    [300, 500, 64, 64, 'a3355ce98d59349d311aeee47ea86c5af8709402e86269bd3f04142c4497b8aa'],
    [640, 360, 384, 384, '6a7f682e401347943cb959f1768bcc3702f02d6ee2455fcc1d0e8801934315e7'],
    [64, 64, 64, 64, '486003ab07c30a08b12f26f48966d3b4e2476aac3ca509c758fa077bed4b8b78'],
    [97, 61, 48, 80, '731f93062c95548d49758dc7d3ca9c9041d72cecd8cb6842002facd568b0e313'],
  ];
  it.each(PIL_DIGESTS)('%i×%i → %i×%i equals PIL', (w, h, ow, oh, digest) => {
    const img = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) img[(y * w + x) * 3 + c] = (x * 7 + y * 13 + c * 50 + ((x * y) % 17)) % 256;
    const out = resizeBicubicPIL(img, w, h, 3, ow, oh);
    expect(createHash('sha256').update(out).digest('hex')).toBe(digest);
  });
});
