/**
 * Signature verification benchmark: starts the real server (bench/server.ts, with the event-loop probe) and, over
 * loopback with autocannon:
 *   1. adds 20 references of 1000x400 PNGs in one request (three signers; each request is timed);
 *   2. verifies a 1000x400 PNG against a signer with 10 references (embeddings stored), first 1 then 8 requests in
 *      flight for --seconds each: latency percentiles, the time the server itself took (duration_ms of the answers),
 *      and the server's longest event-loop stall, against an idle window before.
 * Every questioned image is a different signature (a new drawing per request, from a pool of --variants), so the
 * store writes each one like a real upload. Usage: npm run bench:signatures [-- --seconds 20 --variants 400]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { startBenchServer, type BenchServer } from './server.js';

const { values: options } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, variants: { type: 'string', default: '400' } } });
const seconds = Number(options.seconds);

/** A signature-like 1000x400 PNG: a few pen strokes on white, different for each seed. */
function signaturePng(seed: number): Promise<Buffer> {
  const r = (n: number) => ((seed * 9301 + n * 49297) % 233280) / 233280;
  const y = (n: number) => Math.round(120 + 160 * r(n));
  const path = `M 60 ${y(1)} C 200 ${y(2) - 100}, 260 ${y(3) + 80}, 380 ${y(4)} S 560 ${y(5) - 90}, 640 ${y(6)} S 820 ${y(7)}, 940 ${y(8) - 40}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="400"><rect width="100%" height="100%" fill="#fff"/>` +
    `<path d="${path}" stroke="#15153a" stroke-width="${4 + r(9) * 3}" fill="none" stroke-linecap="round"/>` +
    `<path d="M ${300 + 200 * r(10)} 320 L ${700 + 150 * r(11)} ${300 + 30 * r(12)}" stroke="#15153a" stroke-width="3"/></svg>`;
  return sharp(Buffer.from(svg)).grayscale().png().toBuffer();
}

const BOUNDARY = 'inkwellsignaturebench';
function multipart(field: string, files: Buffer[]): Buffer {
  return Buffer.concat([
    ...files.flatMap((bytes, i) => [
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="signature-${i}.png"\r\nContent-Type: image/png\r\n\r\n`),
      bytes,
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`--${BOUNDARY}--\r\n`),
  ]);
}

async function api(server: BenchServer, method: string, route: string, body: Buffer | object) {
  const multipartBody = Buffer.isBuffer(body);
  const res = await fetch(`${server.url}/api${route}`, {
    method,
    headers: { authorization: server.bearer, 'content-type': multipartBody ? `multipart/form-data; boundary=${BOUNDARY}` : 'application/json' },
    body: multipartBody ? new Uint8Array(body) : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: number };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

async function main(): Promise<void> {
  const variants = await Promise.all(Array.from({ length: Number(options.variants) }, (_, i) => signaturePng(1000 + i)));
  const server = await startBenchServer({ STORAGE_QUOTA_MB: '1000000' }, { probeEventLoop: true });
  try {
    console.log(`Inkwell signature benchmark: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`images: 1000x400 PNG signatures, ${(median(variants.map((v) => v.length)) / 1024).toFixed(1)} KB each (median); server and load generator share the machine\n`);

    // 1. Twenty references in one request, three times (a new signer and new images each time).
    const addTimes: number[] = [];
    for (let run = 0; run < 3; run++) {
      const signer = await api(server, 'POST', '/v1/signers', { name: `Twenty ${run}` });
      const files = await Promise.all(Array.from({ length: 20 }, (_, i) => signaturePng(100 * run + i)));
      const started = performance.now();
      await api(server, 'POST', `/v1/signers/${signer.id}/references`, multipart('images', files));
      addTimes.push(performance.now() - started);
    }
    console.log(`add 20 references in one request: ${addTimes.map((t) => `${Math.round(t)} ms`).join(', ')} (median ${Math.round(median(addTimes))} ms)`);

    // 2. Verification against 10 references with stored embeddings.
    const signer = await api(server, 'POST', '/v1/signers', { name: 'Ten references' });
    await api(server, 'POST', `/v1/signers/${signer.id}/references`, multipart('images', await Promise.all(Array.from({ length: 10 }, (_, i) => signaturePng(500 + i)))));
    let next = 0;
    const serverTimes: number[] = [];
    const request = {
      method: 'POST' as const,
      path: `/api/v1/signers/${signer.id}/verifications`,
      headers: { authorization: server.bearer, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      setupRequest: (req: object) => ({ ...req, body: multipart('image', [variants[next++ % variants.length]!]) }),
      onResponse: (status: number, body: string) => {
        if (status === 201) serverTimes.push((JSON.parse(body) as { duration_ms: number }).duration_ms);
      },
    };
    await autocannon({ url: server.url, connections: 2, amount: 20, requests: [request] });

    await server.eventLoop!.reset();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idle = await server.eventLoop!.read();
    console.log(`idle server, 3 s: longest event-loop stall ${idle.maxMs.toFixed(1)} ms (p99 ${idle.p99Ms.toFixed(1)} ms)\n`);

    console.log('verify a 1000x400 PNG against 10 references   req/s   p50 ms   p90 ms   p99 ms   max ms   server p50/p99 ms   max stall ms   non-2xx');
    for (const connections of [1, 8]) {
      serverTimes.length = 0;
      await server.eventLoop!.reset();
      const result = await autocannon({ url: server.url, connections, duration: seconds, requests: [request] });
      const loop = await server.eventLoop!.read();
      console.log(
        `${`${connections} in flight, ${seconds} s`.padEnd(46)} ${result.requests.average.toFixed(1).padStart(6)} ${String(result.latency.p50).padStart(8)} ${String(result.latency.p90).padStart(8)} ` +
          `${String(result.latency.p99).padStart(8)} ${String(result.latency.max).padStart(8)} ${`${Math.round(median(serverTimes))}/${Math.round(percentile(serverTimes, 99))}`.padStart(19)} ` +
          `${loop.maxMs.toFixed(1).padStart(14)} ${String(result.non2xx + result.errors).padStart(9)}`,
      );
    }
    console.log(`\nload average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    await server.stop();
  }
}

await main();
