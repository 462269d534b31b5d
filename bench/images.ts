/**
 * Image-store benchmark: starts the real server (bench/server.ts) and uploads 1 MB JPEGs through
 * POST /api/v1/images with autocannon over loopback.
 *   1. throughput: 8 connections for --seconds (default 20): uploads per second and latency;
 *   2. memory: 200 connections, 400 uploads, while the server's RSS is read from /proc every 50 ms.
 * Every upload is a different image (one quantisation value changed), so each one is checked, stripped,
 * thumbnailed and written: none is answered from the store's deduplication.
 * Usage: npm run bench:images [-- --seconds 20]
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { startBenchServer } from './server.js';

const { values: options } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const seconds = Number(options.seconds);

/** A photo-like 1 MB JPEG: smooth shapes with sensor-like noise, as a phone would save it. */
async function photoJpeg(): Promise<Buffer> {
  const shapes = Buffer.from(
    `<svg width="1600" height="1200"><rect width="1600" height="1200" fill="#8aa"/><circle cx="800" cy="600" r="420" fill="#c64"/>` +
      `<rect x="150" y="150" width="500" height="300" fill="#246"/></svg>`,
  );
  const noise = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 24 } } }).png().toBuffer();
  return sharp(shapes).composite([{ input: noise, blend: 'overlay' }]).jpeg({ quality: 94 }).toBuffer();
}

/** The offset of the last value of the first quantisation table: changing it gives a new, valid JPEG. */
function quantisationByte(jpeg: Buffer): number {
  const dqt = jpeg.indexOf(Buffer.from([0xff, 0xdb]));
  if (dqt < 0) throw new Error('no DQT segment');
  return dqt + 4 + 64; // marker, length (2), Pq/Tq (1), then 64 one-byte values
}

function multipart(jpeg: Buffer, name: string, boundary: string): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`),
    jpeg,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function main(): Promise<void> {
  const base = await photoJpeg();
  const qAt = quantisationByte(base);
  let counter = 0;
  const boundary = 'inkwellbenchboundary';
  const nextBody = () => {
    const jpeg = Buffer.from(base);
    counter++;
    jpeg[qAt] = 1 + (counter % 255);
    jpeg[qAt - 1] = 1 + (Math.floor(counter / 255) % 255);
    return multipart(jpeg, `photo-${counter}.jpg`, boundary);
  };

  const server = await startBenchServer({ STORAGE_QUOTA_MB: '1000000' });
  try {
    const headers = { authorization: server.bearer, 'content-type': `multipart/form-data; boundary=${boundary}` };
    const request = { method: 'POST' as const, path: '/api/v1/images', headers, setupRequest: (req: object) => ({ ...req, body: nextBody() }) };
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(`Inkwell image-store benchmark: ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}`);
    console.log(`upload: ${(base.length / 1024 / 1024).toFixed(2)} MB JPEG, 1600x1200, a different image each time; server and load generator share the machine\n`);

    // Warm-up, so that start-up allocations are not counted as growth.
    await autocannon({ url: server.url, connections: 2, amount: 20, requests: [request] });

    const throughput = await autocannon({ url: server.url, connections: 8, duration: seconds, requests: [request] });
    console.log(`8 connections, ${seconds} s: ${throughput.requests.average.toFixed(1)} uploads/s, p50 ${throughput.latency.p50} ms, p99 ${throughput.latency.p99} ms, non-2xx ${throughput.non2xx + throughput.errors}`);

    await new Promise((resolve) => setTimeout(resolve, 2000));
    const before = rssMb(server.pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.pid))), 50);
    const burst = await autocannon({ url: server.url, connections: 200, amount: 400, requests: [request], timeout: 120 });
    clearInterval(sampler);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = rssMb(server.pid);
    console.log(
      `200 connections, 400 uploads: ${burst.requests.average.toFixed(1)} uploads/s, p50 ${burst.latency.p50} ms, p99 ${burst.latency.p99} ms, non-2xx ${burst.non2xx + burst.errors}`,
    );
    console.log(`server RSS: ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB peak (+${(peak - before).toFixed(0)} MB), ${after.toFixed(0)} MB 2 s after`);
  } finally {
    await server.stop();
  }
}

await main();
