/**
 * In-process benchmark of the ML runtime: preprocessing alone, inference alone and both together, at several
 * concurrencies and batch sizes, with the longest event-loop stall seen during each run.
 *
 *   npm run bench:ml -- [--models models] [--seconds 1.5]
 *
 * Inputs are drawn by code (digit-like and signature-like pen strokes rendered from SVG by sharp), so the
 * benchmark needs no data set. Each scenario runs for about --seconds; a full run takes about a minute.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadDigitModel, loadSignatureModel, prepareDigit, prepareSignature } from '../src/ml/index.js';
import { drawnDigitPng, drawnSignaturePng } from './drawings.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'models' },
    seconds: { type: 'string', default: '1.5' },
  },
});
const modelsDir = path.resolve(values.models);
const secondsPerScenario = Number(values.seconds);
const maxPixels = 4_000_000;

interface Result {
  scenario: string;
  images: number;
  imagesPerSecond: number;
  p50: number;
  p99: number;
  stallMs: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/**
 * Keeps `concurrency` calls in flight for about `secondsPerScenario`; each call handles `perCall` images.
 * The stall is the event-loop delay histogram's maximum: how long a timer waited beyond its due time.
 */
async function measure(scenario: string, concurrency: number, perCall: number, call: (index: number) => Promise<unknown>): Promise<Result> {
  await call(0);
  const latencies: number[] = [];
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const started = performance.now();
  const deadline = started + secondsPerScenario * 1000;
  let index = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const callStarted = performance.now();
        await call(index++);
        latencies.push(performance.now() - callStarted);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  histogram.disable();
  latencies.sort((a, b) => a - b);
  const images = latencies.length * perCall;
  return { scenario, images, imagesPerSecond: images / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), stallMs: histogram.max / 1e6 };
}

function printTable(title: string, results: Result[]) {
  console.log(`\n${title}`);
  const header = ['scenario', 'images', 'images/s', 'p50 ms/call', 'p99 ms/call', 'max stall ms'];
  const rows = results.map((r) => [r.scenario, String(r.images), r.imagesPerSecond.toFixed(1), r.p50.toFixed(2), r.p99.toFixed(2), r.stallMs.toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

interface Subject {
  name: 'digits' | 'signatures';
  draw: (seed: number) => Promise<Uint8Array>;
  prepare: (bytes: Uint8Array) => Promise<Float32Array>;
  /** Loads the model with the given runner: run prepared images, prepare and run files in the runner, close. */
  load: (runner: 'workers' | 'main-thread') => Promise<{
    infer: (images: Float32Array[]) => Promise<unknown>;
    inferFiles: (files: Uint8Array[]) => Promise<unknown>;
    close: () => Promise<void>;
  }>;
}

const subjects: Subject[] = [
  {
    name: 'digits',
    draw: drawnDigitPng,
    prepare: (bytes) => prepareDigit(bytes, { maxPixels }),
    async load(runner) {
      const model = await loadDigitModel(modelsDir, { runner, maxPixels });
      return { infer: (images) => model.classify(images), inferFiles: (files) => model.classifyFiles(files), close: () => model.close() };
    },
  },
  {
    name: 'signatures',
    draw: drawnSignaturePng,
    prepare: (bytes) => prepareSignature(bytes, { maxPixels }),
    async load(runner) {
      const model = await loadSignatureModel(modelsDir, { runner, maxPixels });
      return { infer: (images) => model.embed(images), inferFiles: (files) => model.embedFiles(files), close: () => model.close() };
    },
  },
];

async function benchmark(subject: Subject) {
  const files = await Promise.all(Array.from({ length: 32 }, (_, i) => subject.draw(i + 1)));
  const prepared = await Promise.all(files.map((bytes) => subject.prepare(bytes)));
  const file = (i: number) => files[i % files.length]!;
  const tensor = (i: number) => prepared[i % prepared.length]!;
  const batchOf = (size: number, i: number) => Array.from({ length: size }, (_, j) => tensor(i * size + j));
  const results: Result[] = [];

  for (const concurrency of [1, 4]) {
    results.push(await measure(`prepare only, ${concurrency} in flight`, concurrency, 1, (i) => subject.prepare(file(i))));
  }

  const workers = await subject.load('workers');
  for (const [batch, concurrency] of [[1, 1], [1, 4], [1, 16], [32, 1], [32, 4]] as const) {
    results.push(await measure(`infer, workers, batch ${batch}, ${concurrency} in flight`, concurrency, batch, (i) => workers.infer(batchOf(batch, i))));
  }
  for (const concurrency of [1, 4, 16]) {
    results.push(await measure(`prepare here, infer in workers, ${concurrency} in flight`, concurrency, 1, async (i) => workers.infer([await subject.prepare(file(i))])));
  }
  for (const concurrency of [1, 4, 16]) {
    results.push(await measure(`prepare+infer in workers (files), ${concurrency} in flight`, concurrency, 1, (i) => workers.inferFiles([file(i)])));
  }
  await workers.close();

  const mainThread = await subject.load('main-thread');
  for (const batch of [1, 32]) {
    results.push(await measure(`infer, main thread, batch ${batch}, 1 in flight`, 1, batch, (i) => mainThread.infer(batchOf(batch, i))));
  }
  await mainThread.close();

  printTable(`${subject.name} (models dir ${path.relative(process.cwd(), modelsDir) || '.'})`, results);
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`Machine: ${cpu}, ${os.availableParallelism()} cores available, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${new Date().toISOString()}`);
console.log(`Each scenario runs ~${secondsPerScenario}s after one warm-up call; worker pool at its defaults.`);
const idle = await measure('idle', 1, 0, () => new Promise((resolve) => setTimeout(resolve, 10)));
console.log(`Noise floor: the longest event-loop stall while idle (timers only) was ${idle.stallMs.toFixed(1)} ms.`);
for (const subject of subjects) {
  if (!existsSync(path.join(modelsDir, `${subject.name}.onnx`))) {
    console.log(`\n${subject.name}: skipped, ${path.join(values.models, `${subject.name}.onnx`)} is not there yet.`);
    continue;
  }
  await benchmark(subject);
}
