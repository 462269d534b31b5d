/**
 * The product's verification protocol on a folder of writers (`<writer>/genuine/*`, `<writer>/forged/*`), through
 * exactly the production path: prepareSignature -> SignatureModel.embed -> scoreSignature with the card's rule and
 * threshold. Shared by the eval:signatures CLI and the model test, and mirrored by protocol_scores in
 * models/training/train_signatures.py, which produced the card's figures.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ImageInputError } from './image-input.js';
import type { SignatureModel } from './index.js';
import { prepareSignature, signatureFitOf, type SignatureFit } from './signature-image.js';
import { countDecisions, threeWayFigures, type DecisionCounts, type ThreeWayFigures } from './signature-decision.js';
import { equalErrorRate, errorRatesAt, scoreSignature, scoringRuleOf } from './signature-score.js';

const EMBED_BATCH = 32;
/** Two images decoded at a time: enough to overlap file reads with sharp's work on a 2-core machine. */
const PREPARE_CONCURRENCY = 2;

export interface SignatureEvaluationOptions {
  /** The first K genuine files of each writer (name order, content duplicates removed) are its references. */
  references: number;
  /** Only these writers (folder names); all when absent. */
  writers?: string[];
  maxPixels: number;
  /** Called for each file that cannot be used (unreadable, not an image, blank), which is then left out. */
  onSkip?: (file: string, reason: string) => void;
}

export interface WriterResult {
  writer: string;
  references: number;
  genuine: { n: number; accepted: number };
  skilled: { n: number; accepted: number };
  random: { n: number; accepted: number };
}

export interface SignatureEvaluation {
  rule: string;
  threshold: number;
  references: number;
  /** EERs pool the scores of all writers (one global threshold), like the model card. */
  eer_skilled: number;
  eer_random: number;
  /** At the card's threshold. */
  far_skilled: number;
  far_random: number;
  frr: number;
  /** Questioned comparisons: genuine, skilled and random forgeries. */
  n: { genuine: number; skilled: number; random: number; writers: number; skipped_files: number };
  /** The three-way decision at the card's inconclusive band; null when the card has none yet. */
  decisions: (ThreeWayFigures & { random: DecisionCounts }) | null;
  writers: WriterResult[];
  /** Every genuine and skilled-forgery comparison (random forgeries are only counted), in writer and file order. */
  questioned: QuestionedScore[];
}

export interface QuestionedScore {
  writer: string;
  /** Path of the questioned file. */
  file: string;
  kind: 'genuine' | 'skilled';
  score: number;
}

export interface EmbeddedFile {
  file: string;
  embedding: Float32Array;
}

/** One writer's files through the production path, content duplicates and unusable files left out. */
export interface EmbeddedWriter {
  writer: string;
  genuine: EmbeddedFile[];
  forged: EmbeddedFile[];
  /** Files left out as unusable (not counting duplicates). */
  skipped: number;
}

export interface WriterFiles {
  writer: string;
  genuine: string[];
  forged: string[];
}

async function imageFiles(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder, { withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(folder, entry.name))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Each writer folder's genuine and forged files (full paths, name order); `only` picks writers, and a missing one is an error. */
export async function writerFolders(root: string, only?: string[]): Promise<WriterFiles[]> {
  const names = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const missing = only?.filter((writer) => !names.includes(writer)) ?? [];
  if (missing.length > 0) throw new Error(`No such writer folder in ${root}: ${missing.join(', ')}`);
  const chosen = only ? names.filter((name) => only.includes(name)) : names;
  return Promise.all(
    chosen.map(async (writer) => ({
      writer,
      genuine: await imageFiles(path.join(root, writer, 'genuine')),
      forged: await imageFiles(path.join(root, writer, 'forged')),
    })),
  );
}

/** Embeds files in order; a file that cannot be read or prepared is reported, left out, and its content duplicates too. */
class Embedder {
  private readonly seen = new Set<string>();
  /** The preparation the model's card was trained with (see signatureFitOf). */
  private readonly fit: SignatureFit;
  skipped = 0;

  constructor(
    private readonly model: SignatureModel,
    private readonly options: Pick<SignatureEvaluationOptions, 'maxPixels' | 'onSkip'>,
  ) {
    this.fit = signatureFitOf(model.card);
  }

  async embedAll(files: string[]): Promise<EmbeddedFile[]> {
    const prepared: { file: string; input: Float32Array }[] = [];
    for (let start = 0; start < files.length; start += PREPARE_CONCURRENCY) {
      const chunk = files.slice(start, start + PREPARE_CONCURRENCY);
      const outcomes = await Promise.all(chunk.map((file) => this.prepare(file)));
      // Duplicates are judged in file order, so the first copy is the one kept, as in the training export.
      outcomes.forEach((outcome, i) => {
        if (!outcome || this.seen.has(outcome.sha256)) return;
        this.seen.add(outcome.sha256);
        prepared.push({ file: chunk[i]!, input: outcome.input });
      });
    }
    const embedded: EmbeddedFile[] = [];
    for (let start = 0; start < prepared.length; start += EMBED_BATCH) {
      const batch = prepared.slice(start, start + EMBED_BATCH);
      const embeddings = await this.model.embed(batch.map((item) => item.input));
      embedded.push(...batch.map((item, i) => ({ file: item.file, embedding: embeddings[i]! })));
    }
    return embedded;
  }

  private async prepare(file: string): Promise<{ sha256: string; input: Float32Array } | null> {
    try {
      const bytes = await readFile(file);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { sha256, input: await prepareSignature(bytes, { maxPixels: this.options.maxPixels, fit: this.fit }) };
    } catch (error) {
      const reason = error instanceof ImageInputError ? error.reason : (error as NodeJS.ErrnoException).code;
      if (!reason) throw error;
      this.skipped++;
      this.options.onSkip?.(file, reason);
      return null;
    }
  }
}

/** Embeds every writer's genuine and forged files of a folder (`<writer>/genuine/*`, `<writer>/forged/*`), in name order. */
export async function embedSignatureFolder(
  root: string,
  model: SignatureModel,
  options: Pick<SignatureEvaluationOptions, 'writers' | 'maxPixels' | 'onSkip'>,
): Promise<EmbeddedWriter[]> {
  const embedded: EmbeddedWriter[] = [];
  for (const files of await writerFolders(root, options.writers)) {
    // Deduplication is per writer and kind, as in the training export.
    const genuineEmbedder = new Embedder(model, options);
    const forgedEmbedder = new Embedder(model, options);
    const genuine = await genuineEmbedder.embedAll(files.genuine);
    const forged = await forgedEmbedder.embedAll(files.forged);
    embedded.push({ writer: files.writer, genuine, forged, skipped: genuineEmbedder.skipped + forgedEmbedder.skipped });
  }
  return embedded;
}

export async function evaluateSignatureFolder(
  root: string,
  model: SignatureModel,
  options: SignatureEvaluationOptions,
): Promise<SignatureEvaluation> {
  const rule = scoringRuleOf(model.card);
  const threshold = model.threshold;
  const k = options.references;
  const embedded = await embedSignatureFolder(root, model, options);
  const usable = embedded.filter((w) => {
    if (w.genuine.length > k) return true;
    options.onSkip?.(path.join(root, w.writer), `fewer than ${k + 1} usable genuine signatures`);
    return false;
  });

  const scores = { genuine: [] as number[], skilled: [] as number[], random: [] as number[] };
  const writers: WriterResult[] = [];
  const questioned: QuestionedScore[] = [];
  for (const writer of usable) {
    const references = writer.genuine.slice(0, k).map((item) => item.embedding);
    const scoreAll = (files: EmbeddedFile[]) => files.map((q) => scoreSignature(q.embedding, references, threshold, rule).score);
    const genuine = scoreAll(writer.genuine.slice(k));
    const skilled = scoreAll(writer.forged);
    const random = scoreAll(usable.filter((other) => other !== writer).flatMap((other) => other.genuine));
    writer.genuine.slice(k).forEach((item, i) => questioned.push({ writer: writer.writer, file: item.file, kind: 'genuine', score: genuine[i]! }));
    writer.forged.forEach((item, i) => questioned.push({ writer: writer.writer, file: item.file, kind: 'skilled', score: skilled[i]! }));
    scores.genuine.push(...genuine);
    scores.skilled.push(...skilled);
    scores.random.push(...random);
    const tally = (values: number[]) => ({ n: values.length, accepted: values.filter((s) => s >= threshold).length });
    writers.push({ writer: writer.writer, references: k, genuine: tally(genuine), skilled: tally(skilled), random: tally(random) });
  }
  if (scores.genuine.length === 0 || scores.skilled.length === 0 || scores.random.length === 0) {
    throw new Error(`${root}: not enough usable signatures to evaluate (need writers with more than ${k} genuine files, and forged files).`);
  }
  const skilledRates = errorRatesAt(threshold, scores.genuine, scores.skilled);
  const band = model.inconclusiveBand;
  return {
    rule,
    threshold,
    references: k,
    eer_skilled: equalErrorRate(scores.genuine, scores.skilled).eer,
    eer_random: equalErrorRate(scores.genuine, scores.random).eer,
    far_skilled: skilledRates.far,
    far_random: errorRatesAt(threshold, scores.genuine, scores.random).far,
    frr: skilledRates.frr,
    n: {
      genuine: scores.genuine.length,
      skilled: scores.skilled.length,
      random: scores.random.length,
      writers: usable.length,
      skipped_files: embedded.reduce((sum, w) => sum + w.skipped, 0),
    },
    decisions: band && { ...threeWayFigures(scores.genuine, scores.skilled, band), random: countDecisions(scores.random, band) },
    writers,
    questioned,
  };
}
