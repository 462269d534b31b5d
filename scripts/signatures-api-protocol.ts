/**
 * The accuracy a user gets, measured through the product's HTTP API: for each writer, create a signer, upload its
 * first K genuine files as references, verify its other genuine files and its skilled forgeries, and count the
 * decisions. The files are chosen exactly as eval:signatures chooses them (src/ml/signature-evaluation.ts: name
 * order, byte-identical copies removed per writer and kind), so the two can be compared file by file. Random
 * forgeries (other writers' signatures) are left out here: eval:signatures measures them, and through the API they
 * would be tens of thousands of requests.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errorRatesAt } from '../src/ml/signature-score.js';

export type Decision = 'genuine' | 'forged' | 'inconclusive';

/** The API calls the protocol makes; the CLI sends them over HTTP, the test through supertest. */
export interface SignaturesApiClient {
  createSigner(name: string): Promise<number>;
  /** Resolves with the ids of the references the API flags as outliers (they are left out of verifications). */
  addReferences(signerId: number, files: { name: string; bytes: Buffer }[]): Promise<number[]>;
  verify(signerId: number, file: { name: string; bytes: Buffer }): Promise<{ decision: Decision; score: number; threshold: number; inconclusive_band: [number, number]; model_version: string }>;
}

export interface ApiVerification {
  writer: string;
  file: string;
  kind: 'genuine' | 'skilled';
  decision: Decision;
  score: number;
}

async function distinctFiles(folder: string): Promise<{ file: string; bytes: Buffer }[]> {
  const names = (await readdir(folder, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  const seen = new Set<string>();
  const files: { file: string; bytes: Buffer }[] = [];
  for (const name of names) {
    const bytes = await readFile(path.join(folder, name));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (seen.has(sha256)) continue;
    seen.add(sha256);
    files.push({ file: path.join(folder, name), bytes });
  }
  return files;
}

export interface ApiProtocolOptions {
  references: number;
  /** Verifications in flight at once. */
  concurrency?: number;
  onWriter?: (writer: string, outliers: number) => void;
}

export async function verifyWritersThroughApi(client: SignaturesApiClient, root: string, writers: string[], { references: k, concurrency = 2, onWriter }: ApiProtocolOptions) {
  const results: ApiVerification[] = [];
  let outlierReferences = 0;
  let meta: { threshold: number; band: [number, number]; modelVersion: string } | null = null;
  for (const writer of writers) {
    const genuine = await distinctFiles(path.join(root, writer, 'genuine'));
    const forged = await distinctFiles(path.join(root, writer, 'forged'));
    if (genuine.length <= k) continue;
    const signerId = await client.createSigner(writer);
    const outliers = await client.addReferences(signerId, genuine.slice(0, k).map(({ file, bytes }) => ({ name: path.basename(file), bytes })));
    outlierReferences += outliers.length;
    onWriter?.(writer, outliers.length);
    const questioned = [
      ...genuine.slice(k).map((f) => ({ ...f, kind: 'genuine' as const })),
      ...forged.map((f) => ({ ...f, kind: 'skilled' as const })),
    ];
    for (let start = 0; start < questioned.length; start += concurrency) {
      const batch = questioned.slice(start, start + concurrency);
      const answers = await Promise.all(batch.map((q) => client.verify(signerId, { name: path.basename(q.file), bytes: q.bytes })));
      for (const [i, answer] of answers.entries()) {
        meta ??= { threshold: answer.threshold, band: answer.inconclusive_band, modelVersion: answer.model_version };
        results.push({ writer, file: batch[i]!.file, kind: batch[i]!.kind, decision: answer.decision, score: answer.score });
      }
    }
  }
  return { results, outlierReferences, meta };
}

/** Accuracy, FAR/FRR on skilled forgeries and the inconclusive share of the API's answers (genuine and skilled only). */
export function summarise(results: ApiVerification[], threshold: number) {
  const genuine = results.filter((r) => r.kind === 'genuine');
  const skilled = results.filter((r) => r.kind === 'skilled');
  const count = (list: ApiVerification[], decision: Decision) => list.filter((r) => r.decision === decision).length;
  const correct = count(genuine, 'genuine') + count(skilled, 'forged');
  const inconclusive = count(genuine, 'inconclusive') + count(skilled, 'inconclusive');
  const binary = errorRatesAt(threshold, genuine.map((r) => r.score), skilled.map((r) => r.score));
  const round = (value: number) => Math.round(value * 10000) / 10000;
  return {
    n: { genuine: genuine.length, skilled: skilled.length, writers: new Set(results.map((r) => r.writer)).size },
    decisions: {
      genuine: { genuine: count(genuine, 'genuine'), inconclusive: count(genuine, 'inconclusive'), forged: count(genuine, 'forged') },
      skilled: { genuine: count(skilled, 'genuine'), inconclusive: count(skilled, 'inconclusive'), forged: count(skilled, 'forged') },
    },
    inconclusive_share: round(inconclusive / results.length),
    accuracy: round(correct / results.length),
    accuracy_decided: round(correct / (results.length - inconclusive)),
    far_skilled: round(count(skilled, 'genuine') / skilled.length),
    frr: round(count(genuine, 'forged') / genuine.length),
    at_threshold: {
      accuracy: round((genuine.length * (1 - binary.frr) + skilled.length * (1 - binary.far)) / results.length),
      far_skilled: round(binary.far),
      frr: round(binary.frr),
    },
  };
}
