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

/**
 * The fields of a model card (models/<name>.json) the runtime relies on. Unknown fields are kept:
 * the card also documents training, evaluation and licences, which /ready and the admin pages show.
 */
export const modelCardSchema = z.looseObject({
  name: z.string().min(1),
  version: z.string().min(1),
  input: z.looseObject({
    name: z.string().min(1),
    shape: z.array(dimension).min(2),
    dtype: z.literal('float32'),
  }),
  output: z.looseObject({
    name: z.string().min(1),
    shape: z.array(dimension).length(2),
  }),
  threshold: z.number().optional(),
  file: z.looseObject({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    bytes: z.number().int().positive().optional(),
  }),
});

export type ModelCard = z.infer<typeof modelCardSchema>;

export interface ModelFile {
  card: ModelCard;
  /** The verified .onnx bytes. */
  bytes: Uint8Array;
  /** How to name the .onnx file in messages (relative to the working directory when inside it). */
  displayPath: string;
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
 */
export async function readModelFile(modelsDir: string, name: string): Promise<ModelFile> {
  const cardPath = path.join(modelsDir, `${name}.json`);
  const modelPath = path.join(modelsDir, `${name}.onnx`);
  const cardText = await readOrExplain(cardPath, `model card of the ${name} model`);

  let json: unknown;
  try {
    json = JSON.parse(cardText.toString('utf8'));
  } catch (error) {
    throw new ModelLoadError(displayPath(cardPath), `${displayPath(cardPath)} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = modelCardSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(card)'}: ${issue.message}`).join('; ');
    throw new ModelLoadError(displayPath(cardPath), `${displayPath(cardPath)} is not a valid model card: ${problems}`);
  }

  const bytes = await readOrExplain(modelPath, `ONNX file of the ${name} model`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== parsed.data.file.sha256) {
    throw new ModelLoadError(
      displayPath(modelPath),
      `${displayPath(modelPath)} does not match the sha256 in ${displayPath(cardPath)}: ` +
        `the file hashes to ${actual}, the card says ${parsed.data.file.sha256} (was the model retrained without updating its card?).`,
    );
  }
  return { card: parsed.data, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), displayPath: displayPath(modelPath) };
}
