/**
 * Reference tensors for parity tests (docs/model-directory.md, "Fixtures"):
 * `{dtype, shape, b64}` where b64 is the base64 of the little-endian raw tensor bytes.
 */
import { z } from 'zod';

export const FIXTURE_DTYPES = ['float32', 'int64'] as const;
export type FixtureDtype = (typeof FIXTURE_DTYPES)[number];

export const EncodedTensorSchema = z.object({
  dtype: z.enum(FIXTURE_DTYPES),
  shape: z.array(z.int().nonnegative()),
  b64: z.string(),
});
export type EncodedTensor = z.infer<typeof EncodedTensorSchema>;

export const RoundtripFixtureSchema = z.object({
  model: z.string().min(1),
  tolerance: z.number().nonnegative(),
  cases: z
    .array(
      z.object({
        graph: z.string().min(1),
        inputs: z.record(z.string(), EncodedTensorSchema),
        outputs: z.record(z.string(), EncodedTensorSchema),
      }),
    )
    .min(1),
});
export type RoundtripFixture = z.infer<typeof RoundtripFixtureSchema>;

export type DecodedTensor =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'int64'; shape: number[]; data: BigInt64Array };

const BYTES: Record<FixtureDtype, number> = { float32: 4, int64: 8 };
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes a fixture tensor; throws if the byte count does not match dtype × shape. */
export function decodeTensor(t: EncodedTensor): DecodedTensor {
  const { dtype, shape } = EncodedTensorSchema.parse(t);
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = Buffer.from(t.b64, 'base64');
  const expected = count * BYTES[dtype];
  if (bytes.length !== expected) {
    throw new Error(
      `tensor ${dtype}[${shape.join(',')}]: expected ${expected} bytes, found ${bytes.length} after base64 decoding`,
    );
  }
  // Copy into a fresh, aligned buffer (Buffer.from may return a view into a shared pool).
  const buf = new ArrayBuffer(expected);
  new Uint8Array(buf).set(bytes);
  if (dtype === 'float32') {
    const data = new Float32Array(buf);
    if (!LITTLE_ENDIAN) {
      const view = new DataView(buf);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
    }
    return { dtype, shape: [...shape], data };
  }
  const data = new BigInt64Array(buf);
  if (!LITTLE_ENDIAN) {
    const view = new DataView(buf);
    for (let i = 0; i < count; i++) data[i] = view.getBigInt64(i * 8, true);
  }
  return { dtype, shape: [...shape], data };
}

/** Inverse of decodeTensor (little-endian), for tests and tools. */
export function encodeTensor(t: DecodedTensor): EncodedTensor {
  const bytes = Buffer.alloc(t.data.length * BYTES[t.dtype]);
  t.data.forEach((v: number | bigint, i: number) => {
    if (t.dtype === 'float32') bytes.writeFloatLE(v as number, i * 4);
    else bytes.writeBigInt64LE(v as bigint, i * 8);
  });
  return { dtype: t.dtype, shape: [...t.shape], b64: bytes.toString('base64') };
}
