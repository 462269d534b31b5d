/**
 * Background removal on 12-megapixel images (4000x3000 JPEGs, like a phone photo): time per job and memory, for
 * each mode and output, through the real remover (its worker, the shipped u2netp model).
 *
 *   npm run bench:background -- [--runs 3] [--models models] [--size 4000x3000] [--only photo]
 *
 * The images are drawn by code (src/ml/background/synthetic.ts, seed 12): a signature on a sheet photographed
 * under uneven light ("document-like") and an object with a drop shadow on a plain backdrop ("photo-like").
 * Every scenario runs in a fresh Node process, so its peak RSS (getrusage maxrss: the whole process, the worker
 * included) is its own: load the remover, one warm-up job, then --runs timed jobs one after another; the
 * median is reported. "max stall" is the longest event-loop delay on the main thread during the jobs (for the
 * baseline: over two idle seconds, the machine's noise floor).
 * A baseline process only loads the remover; another runs photo mode with onnxruntime's default memory
 * settings (memory pattern on) to show what the bound in src/ml/background/remover.ts saves.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadBackgroundRemover, type BackgroundOptions } from '../src/ml/index.js';
import { makeImage, type SampleCategory } from '../src/ml/background/synthetic.js';

interface Scenario {
  name: string;
  image: 'document-like' | 'photo-like' | null;
  options: BackgroundOptions | null;
  memoryPattern?: boolean;
}

interface ChildReport {
  loadMs: number;
  times: number[];
  maxStallMs: number;
  peakRssMb: number;
  rssAfterMb: number;
  bytes: number;
  method: string;
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    models: { type: 'string', default: 'models' },
    size: { type: 'string', default: '4000x3000' },
    only: { type: 'string' },
    child: { type: 'string' },
  },
});
const modelsDir = path.resolve(values.models);
const runs = Math.max(1, Number(values.runs));
const [width, height] = values.size.split('x').map(Number) as [number, number];
const MAX_PIXELS = 50_000_000;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

async function child(spec: { scenario: Scenario; file: string | null }): Promise<void> {
  const { scenario } = spec;
  const started = performance.now();
  const remover = await loadBackgroundRemover({
    modelsDir,
    maxPixels: MAX_PIXELS,
    ...(scenario.memoryPattern ? { memory: { enableCpuMemArena: true, enableMemPattern: true } } : {}),
  });
  const loadMs = performance.now() - started;
  const report: ChildReport = { loadMs, times: [], maxStallMs: 0, peakRssMb: 0, rssAfterMb: 0, bytes: 0, method: '' };
  if (!scenario.options) {
    // The noise floor of the machine: the longest event-loop delay of this idle process over two seconds.
    const idle = monitorEventLoopDelay({ resolution: 1 });
    idle.enable();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    idle.disable();
    report.maxStallMs = idle.max / 1e6;
  }
  if (spec.file && scenario.options) {
    const image = readFileSync(spec.file);
    await remover.remove(image, scenario.options);
    const stalls = monitorEventLoopDelay({ resolution: 1 });
    stalls.enable();
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const result = await remover.remove(image, scenario.options);
      report.times.push(performance.now() - t);
      report.bytes = result.bytes.length;
      report.method = result.method;
    }
    stalls.disable();
    report.maxStallMs = stalls.max / 1e6;
  }
  report.rssAfterMb = mb(process.memoryUsage().rss);
  report.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  await remover.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function runChild(scenario: Scenario, file: string | null): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--runs', String(runs), '--models', modelsDir, '--child', JSON.stringify({ scenario, file })];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`scenario "${scenario.name}" exited with code ${code}`));
      else resolve(JSON.parse(line) as ChildReport);
    });
  });
}

async function imageFile(kind: 'document-like' | 'photo-like'): Promise<string> {
  const dir = path.join(os.tmpdir(), 'inkwell-bench-background');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${kind}-${width}x${height}.jpg`);
  if (!existsSync(file)) {
    const category: SampleCategory = kind === 'document-like' ? 'signature' : 'plain';
    const image = await makeImage(category, 12, 0, { width, height });
    writeFileSync(file, image.file);
  }
  return file;
}

async function main(): Promise<void> {
  if (values.child) return child(JSON.parse(values.child) as { scenario: Scenario; file: string | null });
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`${new Date().toISOString()}  ${os.cpus().length} x ${cpu}, ${mb(os.totalmem())} MiB, Node ${process.version}, load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  console.log(`images ${width}x${height} (${((width * height) / 1e6).toFixed(1)} MP), ${runs} timed runs per scenario after one warm-up\n`);
  const files = { 'document-like': await imageFile('document-like'), 'photo-like': await imageFile('photo-like') };
  const scenarios: Scenario[] = [
    { name: 'load only (baseline)', image: null, options: null },
    { name: 'document mode, transparent', image: 'document-like', options: { mode: 'document', output: 'transparent' } },
    { name: 'document mode, color', image: 'document-like', options: { mode: 'document', output: 'color' } },
    { name: 'document mode, mask', image: 'document-like', options: { mode: 'document', output: 'mask' } },
    { name: 'photo mode, transparent', image: 'photo-like', options: { mode: 'photo', output: 'transparent' } },
    { name: 'photo mode, color', image: 'photo-like', options: { mode: 'photo', output: 'color' } },
    { name: 'photo mode, mask', image: 'photo-like', options: { mode: 'photo', output: 'mask' } },
    { name: 'photo mode on the document', image: 'document-like', options: { mode: 'photo', output: 'transparent' } },
    { name: 'plain mode, transparent', image: 'photo-like', options: { mode: 'plain', output: 'transparent' } },
    { name: 'photo mode, ort default memory', image: 'photo-like', options: { mode: 'photo', output: 'transparent' }, memoryPattern: true },
  ];
  const header = `${'scenario'.padEnd(32)} ${'image'.padEnd(13)} ${'median ms'.padStart(9)} ${'min'.padStart(6)} ${'max'.padStart(6)} ${'peak RSS MB'.padStart(11)} ${'RSS after'.padStart(9)} ${'max stall'.padStart(9)} ${'bytes out'.padStart(10)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  const summary: Record<string, unknown>[] = [];
  for (const scenario of scenarios) {
    if (values.only && !scenario.name.includes(values.only)) continue;
    const report = await runChild(scenario, scenario.image ? files[scenario.image] : null);
    const sorted = [...report.times].sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
    const cell = (v: number, w: number) => (Number.isFinite(v) ? v.toFixed(0) : '-').padStart(w);
    console.log(
      `${scenario.name.padEnd(32)} ${(scenario.image ?? '-').padEnd(13)} ${cell(median, 9)} ${cell(sorted[0] ?? NaN, 6)} ${cell(sorted.at(-1) ?? NaN, 6)} ${cell(report.peakRssMb, 11)} ${cell(report.rssAfterMb, 9)} ${cell(report.maxStallMs, 9)} ${cell(scenario.image ? report.bytes : NaN, 10)}`,
    );
    summary.push({
      scenario: scenario.name,
      image: scenario.image,
      medianMs: Math.round(median),
      peakRssMb: report.peakRssMb,
      rssAfterMb: report.rssAfterMb,
      maxStallMs: Math.round(report.maxStallMs),
      loadMs: Math.round(report.loadMs),
      method: report.method,
    });
  }
  console.log(`\n${JSON.stringify({ width, height, runs, scenarios: summary })}`);
}

await main();
