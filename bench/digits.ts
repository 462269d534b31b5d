/**
 * The digit prediction path, measured against its targets (issue 10, section 5) in one run:
 *   1. decode + prepare of a 280x280 canvas PNG, single-threaded: p50 (target <= 3 ms);
 *   2. the in-process limit: decode + prepare + infer through the worker pool (DigitModel.readFiles), 16 in flight;
 *   3. POST /api/v1/digits/predictions on the real server (bench/server.ts) against the Flask + PyTorch peer in
 *      ../shared/bench-peer (POST /predict), same PNGs, same autocannon settings, in alternating runs; Inkwell
 *      both with the account keeping its images (the default) and not keeping them.
 * Every request sends a different drawing (a pool of --images PNGs, RGBA as a browser canvas saves them), so
 * nothing is answered from a cache or the image store's deduplication. The load generator runs in this process:
 * its share of the cores is measured from process.cpuUsage(), the servers' from /proc.
 *
 *   npm run bench:digits -- [--seconds 10] [--connections 16] [--rounds 2] [--images 300] [--peer ../shared/bench-peer]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { loadModels, prepareDigit } from '../src/ml/index.js';
import { drawnDigitPng } from './drawings.js';
import { startBenchServer } from './server.js';

const { values: options } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    images: { type: 'string', default: '300' },
    peer: { type: 'string', default: '../shared/bench-peer' },
    'peer-port': { type: 'string', default: '18081' },
  },
});
const seconds = Number(options.seconds);
const connections = Number(options.connections);
const rounds = Number(options.rounds);
const maxPixels = 50_000_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1]! + sorted[middle]!) / 2 : sorted[Math.floor(middle)]!;
}
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const load = () => os.loadavg().map((value) => value.toFixed(2)).join(' ');

/** CPU seconds (user + system) of a process and its children's threads, from /proc. */
function cpuSecondsOf(pids: number[]): number {
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  return pids.reduce((sum, pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return sum + (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      return sum;
    }
  }, 0);
}

/** The process and its direct children (gunicorn's workers). */
function processTree(pid: number): number[] {
  const children = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number).filter((child) => {
    try {
      return readFileSync(`/proc/${child}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
    } catch {
      return false;
    }
  });
  return [pid, ...children];
}

function multipart(png: Uint8Array, boundary: string): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="canvas.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

interface Run {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
  /** Cores used by this process (the load generator) and by the server, on average over the run. */
  generatorCores: number;
  serverCores: number;
  /** The one-minute load average when the run ended. */
  load: number;
}

async function drive(name: string, url: string, pids: number[], bodies: Buffer[], boundary: string, headers: Record<string, string>, duration = seconds): Promise<Run> {
  let next = 0;
  const request = {
    method: 'POST' as const,
    headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` },
    setupRequest: (req: object) => ({ ...req, body: bodies[next++ % bodies.length] }),
  };
  const cpuBefore = process.cpuUsage();
  const serverBefore = cpuSecondsOf(pids);
  const started = performance.now();
  const result = await autocannon({ url, connections, duration, requests: [request] });
  const wall = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    generatorCores: (cpu.user + cpu.system) / 1e6 / wall,
    serverCores: (cpuSecondsOf(pids) - serverBefore) / wall,
    load: os.loadavg()[0]!,
  };
}

function startPeer(): { url: string; pid: number } | null {
  const script = path.resolve(options.peer, 'start.sh');
  if (!existsSync(script)) {
    console.log(`The peer is not there (${script}); only Inkwell is measured.`);
    return null;
  }
  const started = spawnSync(script, [options['peer-port']], { encoding: 'utf8' });
  if (started.status !== 0) {
    console.log(`The peer did not start: ${started.stderr.trim()}`);
    return null;
  }
  return { url: `http://127.0.0.1:${options['peer-port']}/predict`, pid: Number(started.stdout.trim()) };
}

/** Waits until the processes use less than 5% of a core over half a second (at most 60 s). */
async function untilIdle(pids: number[]): Promise<void> {
  for (let waited = 0; waited < 60_000; waited += 500) {
    const before = cpuSecondsOf(pids);
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (cpuSecondsOf(pids) - before < 0.025) return;
  }
}

async function main(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`Digit prediction benchmark: ${cpu}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  console.log(`Load average at the start: ${load()}\n`);

  // A browser canvas saves RGBA PNGs; every request gets another drawing.
  const pngs = await Promise.all(Array.from({ length: Number(options.images) }, async (_, i) => new Uint8Array(await sharp(await drawnDigitPng(i + 1)).ensureAlpha().png().toBuffer())));
  console.log(`${pngs.length} distinct 280x280 RGBA drawings, ${Math.round(pngs.reduce((sum, png) => sum + png.length, 0) / pngs.length)} bytes on average`);

  // 1. Decode + prepare, one at a time on this thread.
  for (const png of pngs.slice(0, 50)) await prepareDigit(png, { maxPixels });
  const times: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    for (const png of pngs) {
      const start = performance.now();
      await prepareDigit(png, { maxPixels });
      times.push(performance.now() - start);
    }
  }
  times.sort((a, b) => a - b);
  const prepareP50 = percentile(times, 50);
  console.log(`decode + prepare, single-threaded: p50 ${prepareP50.toFixed(2)} ms, p90 ${percentile(times, 90).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms (${times.length} calls)`);

  // 2. The in-process limit: what the worker pool does with the same files, 16 in flight, no HTTP.
  const models = await loadModels({ modelsDir: 'models', maxPixels });
  const inProcessCpu: number[] = [];
  const inProcess = async () => {
    let done = 0;
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    const cpuBefore = cpuSecondsOf([process.pid]);
    await Promise.all(Array.from({ length: connections }, async (_, lane) => {
      for (let i = lane; performance.now() < deadline; i += connections) {
        await models.digits.readFiles([pngs[i % pngs.length]!]);
        done++;
      }
    }));
    inProcessCpu.push(((cpuSecondsOf([process.pid]) - cpuBefore) * 1000) / done);
    return done / ((performance.now() - started) / 1000);
  };
  await inProcess();
  inProcessCpu.pop();
  const limits = [await inProcess()];

  // 3. HTTP: Inkwell and the peer, alternating.
  const server = await startBenchServer({ STORAGE_QUOTA_MB: '1000000' });
  const peer = startPeer();
  const boundary = 'inkwellbenchboundary';
  const bodies = pngs.map((png) => multipart(png, boundary));
  const auth = { authorization: server.bearer };
  const keepImages = (keep: boolean) =>
    fetch(`${server.url}/api/v1/digits/settings`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ keep_images: keep }) });
  const inkwellUrl = `${server.url}/api/v1/digits/predictions`;
  const runs: Run[] = [];
  try {
    await drive('warm-up', inkwellUrl, [server.pid], bodies, boundary, auth, 3);
    if (peer) await drive('warm-up', peer.url, processTree(peer.pid), bodies, boundary, {}, 3);
    for (let round = 1; round <= rounds; round++) {
      await keepImages(true);
      runs.push(await drive('Inkwell, images kept', inkwellUrl, [server.pid], bodies, boundary, auth));
      // The images still waiting are stored after the run ends; the peer is measured only once the server is idle again.
      await untilIdle([server.pid]);
      if (peer) runs.push(await drive('Flask + PyTorch peer', peer.url, processTree(peer.pid), bodies, boundary, {}));
      await keepImages(false);
      runs.push(await drive('Inkwell, images not kept', inkwellUrl, [server.pid], bodies, boundary, auth));
      limits.push(await inProcess());
    }
  } finally {
    await models.close();
    await server.stop();
    if (peer) process.kill(peer.pid);
  }

  console.log(`\n${connections} connections, ${seconds} s per run, ${rounds} round(s); server and load generator share the machine\n`);
  const columns = ['run'.padEnd(28), 'req/s'.padStart(7), 'p50 ms'.padStart(7), 'p99 ms'.padStart(7), 'failed'.padStart(7), 'generator cores'.padStart(16), 'server cores'.padStart(13), 'server CPU ms/req'.padStart(18), 'load'.padStart(5)];
  console.log(columns.join('  '));
  for (const run of runs) {
    console.log(
      [run.name.padEnd(28), run.requestsPerSecond.toFixed(0).padStart(7), String(run.p50).padStart(7), String(run.p99).padStart(7), String(run.failures).padStart(7),
        run.generatorCores.toFixed(2).padStart(16), run.serverCores.toFixed(2).padStart(13), ((run.serverCores / run.requestsPerSecond) * 1000).toFixed(2).padStart(18), run.load.toFixed(1).padStart(5)].join('  '),
    );
  }
  const medianOf = (name: string) => {
    const matching = runs.filter((run) => run.name === name);
    return matching.length ? { rps: median(matching.map((run) => run.requestsPerSecond)), p99: median(matching.map((run) => run.p99)) } : null;
  };
  const kept = medianOf('Inkwell, images kept')!;
  const notKept = medianOf('Inkwell, images not kept')!;
  const peerMedian = medianOf('Flask + PyTorch peer');
  const limit = median(limits);
  console.log(`\nin-process limit (decode + prepare + infer in the worker pool, ${connections} in flight): ${limits.map((value) => value.toFixed(0)).join(', ')} images/s, median ${limit.toFixed(0)}; CPU ${median(inProcessCpu).toFixed(2)} ms per image`);
  console.log(`Load average at the end: ${load()}\n`);
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  console.log(`decode + prepare p50 ${prepareP50.toFixed(2)} ms (target <= 3 ms): ${verdict(prepareP50 <= 3)}`);
  for (const [label, figures] of [['images kept', kept], ['images not kept', notKept]] as const) {
    const ofLimit = figures.rps / limit;
    const peerPart = peerMedian ? `${(figures.rps / peerMedian.rps).toFixed(2)}x the peer's ${peerMedian.rps.toFixed(0)} req/s (target >= 2x: ${verdict(figures.rps >= 2 * peerMedian.rps)}), ` : '';
    console.log(
      `Inkwell, ${label}: ${figures.rps.toFixed(0)} req/s = ${peerPart}${(ofLimit * 100).toFixed(0)}% of the in-process limit (target >= 60%: ${verdict(ofLimit >= 0.6)}), ` +
        `p99 ${figures.p99} ms (target <= 50 ms: ${verdict(figures.p99 <= 50)})`,
    );
  }
}

await main();
