import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/** A model could not be loaded; the message names the file and says what is wrong with it. */
export class ModelLoadError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModelLoadError';
  }
}

const dimension = z.union([z.number().int().positive(), z.string()]);

/** The fields every model card shares; the output's shape depends on the kind of model. */
const cardFields = {
  name: z.string().min(1),
  version: z.string().min(1),
  input: z.looseObject({
    name: z.string().min(1),
    shape: z.array(dimension).min(2),
    dtype: z.literal('float32'),
  }),
  threshold: z.number().optional(),
  file: z.looseObject({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    bytes: z.number().int().positive().optional(),
  }),
};

/**
 * The fields of a model card (models/<name>.json) the runtime relies on. Unknown fields are kept:
 * the card also documents training, evaluation and licences, which /ready and the admin pages show.
 * This is the card of a model that gives one row per image (digits: [N, 10]; signatures: [N, 256]).
 */
export const modelCardSchema = z.looseObject({
  ...cardFields,
  output: z.looseObject({
    name: z.string().min(1),
    shape: z.array(dimension).length(2),
  }),
});

export type ModelCard = z.infer<typeof modelCardSchema>;

/** The card of a model that gives one mask per image, [N, 1, H, W] (u2netp, for background removal). */
export const maskModelCardSchema = z.looseObject({
  ...cardFields,
  output: z.looseObject({
    name: z.string().min(1),
    shape: z.tuple([dimension, z.literal(1), z.number().int().positive(), z.number().int().positive()]),
  }),
});

export type MaskModelCard = z.infer<typeof maskModelCardSchema>;

/** Any card readModelFile can check: the shared fields, whatever the output. */
export type AnyModelCard = ModelCard | MaskModelCard;

export interface ModelFile<Card extends AnyModelCard = ModelCard> {
  card: Card;
  /** The verified .onnx bytes. */
  bytes: Uint8Array;
  /** How to name the .onnx file in messages (relative to the working directory when inside it). */
  displayPath: string;
}

/**
 * The sha256 of bytes in memory, 4 MB at a time with a turn of the event loop between: a version activated at run
 * time (src/features/models) may be hundreds of MB, whose hash in one go would hold every request for most of a second.
 */
async function sha256InSlices(bytes: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  const slice = 4 * 1024 * 1024;
  for (let start = 0; start < bytes.length; start += slice) {
    hash.update(bytes.subarray(start, start + slice));
    if (start + slice < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
  return hash.digest('hex');
}

/** Paths in messages read like "models/digits.onnx" when the app runs from the project root. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : path.resolve(file);
}

async function readOrExplain(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? String(error)})`;
    throw new ModelLoadError(displayPath(file), `${displayPath(file)} ${problem}; it is the ${what}.`, { cause: error });
  }
}

/**
 * Reads `<modelsDir>/<name>.json` and `<modelsDir>/<name>.onnx` and checks the model bytes against the
 * card's sha256, so a half-copied or swapped model never serves predictions under the card's version.
 * The card is checked against `schema` (by default the card of a model with one output row per image).
 */
export async function readModelFile(modelsDir: string, name: string): Promise<ModelFile>;
export async function readModelFile<Card extends AnyModelCard>(modelsDir: string, name: string, schema: z.ZodType<Card>): Promise<ModelFile<Card>>;
export async function readModelFile(modelsDir: string, name: string, schema: z.ZodType<AnyModelCard> = modelCardSchema): Promise<ModelFile<AnyModelCard>> {
  const cardPath = path.join(modelsDir, `${name}.json`);
  const modelPath = path.join(modelsDir, `${name}.onnx`);
  const cardText = await readOrExplain(cardPath, `model card of the ${name} model`);

  let json: unknown;
  try {
    json = JSON.parse(cardText.toString('utf8'));
  } catch (error) {
    throw new ModelLoadError(displayPath(cardPath), `${displayPath(cardPath)} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(card)'}: ${issue.message}`).join('; ');
    throw new ModelLoadError(displayPath(cardPath), `${displayPath(cardPath)} is not a valid model card: ${problems}`);
  }

  const bytes = await readOrExplain(modelPath, `ONNX file of the ${name} model`);
  const actual = await sha256InSlices(bytes);
  if (actual !== parsed.data.file.sha256) {
    throw new ModelLoadError(
      displayPath(modelPath),
      `${displayPath(modelPath)} does not match the sha256 in ${displayPath(cardPath)}: ` +
        `the file hashes to ${actual}, the card says ${parsed.data.file.sha256} (was the model retrained without updating its card?).`,
    );
  }
  return { card: parsed.data, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), displayPath: displayPath(modelPath) };
}
