/**
 * The model directory contract (docs/model-directory.md): the zod schema of manifest.json and
 * the loader that checks a directory against it. Everything that runs a BLIP graph starts here.
 *
 * This module must stay free of onnxruntime-node: sessions are typed structurally so the API
 * (which may read manifests but never loads a runtime) can use it too.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ModelDirectoryError } from './errors.js';

export const MANIFEST_FORMAT = 'blip-jobs/model@1';
export const MANIFEST_FILE = 'manifest.json';

export const TASKS = ['caption', 'match', 'embed', 'vqa'] as const;
export const GRAPH_ROLES = [
  'vision',
  'text_unimodal',
  'text_image',
  'question_encoder',
  'cross_kv',
  'decoder',
] as const;
export const TENSOR_DTYPES = ['float32', 'float16', 'int64', 'int32', 'bool'] as const;

const posInt = z.int().positive();
const nonNegInt = z.int().nonnegative();
const name = z.string().min(1);

/** A file name inside the model directory: relative, forward slashes, no `..`, no empty parts. */
export function isSafeRelativePath(p: string): boolean {
  if (p.length === 0 || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
const relPath = z.string().refine(isSafeRelativePath, {
  message: 'must be a relative path inside the model directory (no "..", no leading "/")',
});

const vec3 = z.tuple([z.number(), z.number(), z.number()]);

export const TensorSpecSchema = z.object({
  name,
  dtype: z.enum(TENSOR_DTYPES),
  /** Fixed dims are integers, symbolic dims are names such as "B" or "T". */
  shape: z.array(z.union([nonNegInt, z.string().min(1)])),
});

const uniqueNames = (specs: readonly { name: string }[], ctx: z.RefinementCtx) => {
  const seen = new Set<string>();
  specs.forEach((s, i) => {
    if (seen.has(s.name)) {
      ctx.addIssue({ code: 'custom', message: `duplicate tensor name "${s.name}"`, path: [i, 'name'] });
    }
    seen.add(s.name);
  });
};

export const GraphSchema = z.object({
  file: relPath,
  inputs: z.array(TensorSpecSchema).min(1).superRefine(uniqueNames),
  outputs: z.array(TensorSpecSchema).min(1).superRefine(uniqueNames),
});

/** A task's own settings (beam size, max length, first_token, ...) pass through untouched. */
export const TaskSchema = z.looseObject({
  image_size: posInt,
  graphs: z.partialRecord(z.enum(GRAPH_ROLES), name),
});

export const FileEntrySchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  bytes: nonNegInt,
});

export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain model name'),
  /** `{name}@{first 12 hex of sha256 over the graph files and weights}`. */
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*@[0-9a-f]{12}$/, 'must be "{name}@{12 hex}"'),
  source: z.looseObject({
    checkpoint: z.string().nullable().optional(),
    layout: z.enum(['blip', 'hf', 'trained-here', 'random']),
  }),
  architecture: z.object({
    vision: z.object({
      image_size: posInt,
      patch_size: posInt,
      width: posInt,
      depth: posInt,
      heads: posInt,
      num_tokens: posInt,
    }),
    text: z.object({
      hidden: posInt,
      layers: posInt,
      heads: posInt,
      intermediate: posInt,
      vocab_size: posInt,
      max_position: posInt,
    }),
    /** Absent (or null) when the checkpoint has no vision_proj/text_proj (caption-only). */
    embed_dim: posInt.nullable().optional(),
  }),
  preprocess: z.object({
    resize: z.literal('bicubic'),
    mean: vec3,
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  }),
  tokenizer: z.object({
    vocab: relPath,
    lowercase: z.boolean(),
    max_text_length: posInt,
    special_tokens: z.object({
      pad: nonNegInt,
      unk: nonNegInt,
      cls: nonNegInt,
      sep: nonNegInt,
      mask: nonNegInt,
      dec: nonNegInt,
      enc: nonNegInt,
    }),
  }),
  tasks: z
    .partialRecord(z.enum(TASKS), TaskSchema)
    .refine((t) => Object.keys(t).length > 0, { message: 'at least one task is required' }),
  graphs: z
    .record(name, GraphSchema)
    .refine((g) => Object.keys(g).length > 0, { message: 'at least one graph is required' }),
  files: z.record(relPath, FileEntrySchema),
  opset: posInt,
  dtype: z.enum(['float32', 'float16']),
  /**
   * Present in an int8 export (tools/blip-export `blip.quantize`): which weights are int8. Inputs
   * and outputs stay float32, so nothing else changes for the runtime; the version is its own.
   */
  quantization: z
    .object({
      method: z.string(),
      weights: z.literal('int8'),
      activations: z.literal('uint8'),
      /** The float32 model it was made from. */
      source_version: z.string(),
      /** Decoder policy: float (none quantized), ffn (feed-forward layers only), all. */
      decoders: z.enum(['float', 'ffn', 'all']),
      matmuls_per_graph: z.record(z.string(), nonNegInt),
    })
    .optional(),
});

export type ModelManifest = z.infer<typeof ManifestSchema>;
export type TensorSpec = z.infer<typeof TensorSpecSchema>;
export type GraphSpec = z.infer<typeof GraphSchema>;
export type TaskSpec = z.infer<typeof TaskSchema>;
export type TaskName = (typeof TASKS)[number];
export type GraphRole = (typeof GRAPH_ROLES)[number];

export interface LoadManifestOptions {
  /** Hash every listed file and compare with its sha256 (default true). Sizes are always checked. */
  verifyChecksums?: boolean;
}

/** The parts of an onnxruntime InferenceSession that checkGraphSignature looks at. */
export interface GraphSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

function fieldPath(p: readonly PropertyKey[]): string {
  return (
    p
      .map((k) => String(k))
      .map((k, i) => (/^[\w.-]+$/.test(k) ? (i === 0 ? k : `.${k}`) : `[${JSON.stringify(k)}]`))
      .join('') || '(root)'
  );
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key') {
    return `${fieldPath(issue.path)}: invalid key: ${issue.issues.map((i) => i.message).join(', ')}`;
  }
  return `${fieldPath(issue.path)}: ${issue.message}`;
}

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** Cross-field rules the schema alone cannot express. Returns [field, message] pairs. */
function consistencyProblems(m: ModelManifest): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const listed = (file: string) => Object.hasOwn(m.files, file);

  if (!m.version.startsWith(`${m.name}@`)) {
    problems.push(['version', `expected "${m.name}@<12 hex>", found ${describe(m.version)}`]);
  }
  const v = m.architecture.vision;
  if (v.image_size % v.patch_size !== 0) {
    problems.push([
      'architecture.vision.image_size',
      `expected a multiple of patch_size ${v.patch_size}, found ${v.image_size}`,
    ]);
  } else {
    const expected = 1 + (v.image_size / v.patch_size) ** 2;
    if (v.num_tokens !== expected) {
      problems.push([
        'architecture.vision.num_tokens',
        `expected 1 + (image_size/patch_size)^2 = ${expected}, found ${v.num_tokens}`,
      ]);
    }
  }
  const vocabSize = m.architecture.text.vocab_size;
  for (const [tok, id] of Object.entries(m.tokenizer.special_tokens)) {
    if (id >= vocabSize) {
      problems.push([`tokenizer.special_tokens.${tok}`, `expected an id < vocab_size ${vocabSize}, found ${id}`]);
    }
  }
  if (!listed(m.tokenizer.vocab)) {
    problems.push(['tokenizer.vocab', `file "${m.tokenizer.vocab}" is not listed in files`]);
  }
  for (const [graphName, g] of Object.entries(m.graphs)) {
    if (!listed(g.file)) {
      problems.push([`graphs.${graphName}.file`, `file "${g.file}" is not listed in files`]);
    }
  }
  const graphNames = Object.keys(m.graphs);
  for (const [task, spec] of Object.entries(m.tasks)) {
    if (!spec) continue;
    if (spec.image_size % v.patch_size !== 0) {
      problems.push([
        `tasks.${task}.image_size`,
        `expected a multiple of patch_size ${v.patch_size}, found ${spec.image_size}`,
      ]);
    }
    const roles = Object.entries(spec.graphs);
    if (roles.length === 0) problems.push([`tasks.${task}.graphs`, 'expected at least one graph role']);
    for (const [role, graphName] of roles) {
      if (graphName !== undefined && !Object.hasOwn(m.graphs, graphName)) {
        problems.push([
          `tasks.${task}.graphs.${role}`,
          `graph "${graphName}" is not in graphs (known: ${graphNames.join(', ')})`,
        ]);
      }
    }
  }
  return problems;
}

/**
 * Validates an already-parsed manifest object (schema + cross-field rules). `dir`, a directory
 * or a storage URL such as `s3://bucket/prefix`, only names the manifest in error messages.
 */
export function parseManifest(raw: unknown, dir?: string): ModelManifest {
  const isUrl = dir !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(dir);
  const where = dir === undefined ? MANIFEST_FILE : isUrl ? `${dir}/${MANIFEST_FILE}` : path.join(dir, MANIFEST_FILE);
  const at = dir === undefined ? {} : { dir };
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(issueText);
    throw new ModelDirectoryError('MANIFEST_INVALID', `${where} is invalid: ${issues.join('; ')}`, {
      ...at,
      file: MANIFEST_FILE,
      field: fieldPath(parsed.error.issues[0]?.path ?? []),
      cause: parsed.error,
    });
  }
  const problems = consistencyProblems(parsed.data);
  const first = problems[0];
  if (first) {
    throw new ModelDirectoryError(
      'MANIFEST_INVALID',
      `${where} is inconsistent: ${problems.map(([f, msg]) => `${f}: ${msg}`).join('; ')}`,
      { ...at, file: MANIFEST_FILE, field: first[0] },
    );
  }
  return parsed.data;
}

/** Hex sha256 of a file, read in 4 MiB chunks. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/**
 * Reads `<dir>/manifest.json`, validates it, and checks every listed file on disk: it must
 * exist, have the listed byte length and (unless `verifyChecksums: false`) the listed sha256.
 * Throws ModelDirectoryError on the first problem found.
 */
export async function loadManifest(dir: string, opts: LoadManifestOptions = {}): Promise<ModelManifest> {
  const verifyChecksums = opts.verifyChecksums ?? true;
  const manifestPath = path.join(dir, MANIFEST_FILE);

  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (cause) {
    throw new ModelDirectoryError('FILE_MISSING', `${manifestPath} cannot be read: ${(cause as Error).message}`, {
      dir,
      file: MANIFEST_FILE,
      cause,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ModelDirectoryError('MANIFEST_INVALID', `${manifestPath} is not JSON: ${(cause as Error).message}`, {
      dir,
      file: MANIFEST_FILE,
      cause,
    });
  }
  const manifest = parseManifest(raw, dir);

  // Existence and sizes first (cheap), then hashes.
  const entries = Object.entries(manifest.files);
  for (const [file, entry] of entries) {
    const full = path.join(dir, file);
    let size: number;
    try {
      const st = await stat(full);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (cause) {
      throw new ModelDirectoryError('FILE_MISSING', `${full} (listed in files) is missing: ${(cause as Error).message}`, {
        dir,
        file,
        field: `files.${file}`,
        cause,
      });
    }
    if (size !== entry.bytes) {
      throw new ModelDirectoryError(
        'CHECKSUM_MISMATCH',
        `${full}: expected ${entry.bytes} bytes (files.${file}.bytes), found ${size}`,
        { dir, file, field: `files.${file}.bytes`, expected: entry.bytes, found: size },
      );
    }
  }
  if (verifyChecksums) {
    for (const [file, entry] of entries) {
      const full = path.join(dir, file);
      const actual = await sha256File(full);
      if (actual !== entry.sha256) {
        throw new ModelDirectoryError(
          'CHECKSUM_MISMATCH',
          `${full}: expected sha256 ${entry.sha256} (files.${file}.sha256), found ${actual}`,
          { dir, file, field: `files.${file}.sha256`, expected: entry.sha256, found: actual },
        );
      }
    }
  }
  return manifest;
}

/** The graph spec for `graphName`, or GRAPH_MISMATCH if the manifest has no such graph. */
export function getGraph(manifest: ModelManifest, graphName: string): GraphSpec {
  const graph = Object.hasOwn(manifest.graphs, graphName) ? manifest.graphs[graphName] : undefined;
  if (!graph) {
    throw new ModelDirectoryError(
      'GRAPH_MISMATCH',
      `graph "${graphName}" is not in ${manifest.version} (known: ${Object.keys(manifest.graphs).join(', ')})`,
      { field: `graphs.${graphName}`, found: graphName },
    );
  }
  return graph;
}

/** Absolute path of a graph's .onnx file (load sessions from the path so external data resolves). */
export function graphPath(dir: string, manifest: ModelManifest, graphName: string): string {
  return path.resolve(dir, getGraph(manifest, graphName).file);
}

/**
 * Compares a loaded session's input/output names with the manifest's graph spec (as sets).
 * Throws GRAPH_MISMATCH listing every missing (in the manifest, not in the session) and
 * unexpected (in the session, not in the manifest) input and output.
 */
export function checkGraphSignature(manifest: ModelManifest, graphName: string, session: GraphSession): void {
  const graph = getGraph(manifest, graphName);
  const diff = (kind: 'inputs' | 'outputs', expected: readonly string[], found: readonly string[]) => {
    const exp = new Set(expected);
    const got = new Set(found);
    const out: string[] = [];
    const missing = expected.filter((n) => !got.has(n));
    const unexpected = found.filter((n) => !exp.has(n));
    if (missing.length) out.push(`missing ${kind} [${missing.join(', ')}]`);
    if (unexpected.length) out.push(`unexpected ${kind} [${unexpected.join(', ')}]`);
    return out;
  };
  const expectedInputs = graph.inputs.map((t) => t.name);
  const expectedOutputs = graph.outputs.map((t) => t.name);
  const problems = [
    ...diff('inputs', expectedInputs, session.inputNames),
    ...diff('outputs', expectedOutputs, session.outputNames),
  ];
  if (problems.length > 0) {
    throw new ModelDirectoryError(
      'GRAPH_MISMATCH',
      `graph "${graphName}" (${graph.file}) does not match the manifest: ${problems.join('; ')}; ` +
        `manifest inputs [${expectedInputs.join(', ')}] outputs [${expectedOutputs.join(', ')}], ` +
        `session inputs [${session.inputNames.join(', ')}] outputs [${session.outputNames.join(', ')}]`,
      {
        file: graph.file,
        field: `graphs.${graphName}`,
        expected: { inputs: expectedInputs, outputs: expectedOutputs },
        found: { inputs: [...session.inputNames], outputs: [...session.outputNames] },
      },
    );
  }
}
