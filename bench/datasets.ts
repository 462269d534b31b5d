/**
 * Dataset benchmark (issue "Dataset builder", section 6). Starts the real server (bench/server.ts) and, over loopback:
 *   1. import: POST /api/v1/datasets/import of a zip of --images (default 2,000) photo-like JPEGs of ~100 KB
 *      (~200 MB), --imports times (default 5) into one dataset, each zip new images: wall time per import;
 *   2. export: GET /api/v1/datasets/{id}/export of the result (default 10,000 images, ~1 GB) --runs times
 *      (default 3), the body read and thrown away as fast as it comes: time to the first byte, MB/s;
 *   3. in-process: addStoredImages (what another feature, such as digit corrections, calls) with 10,000 stored
 *      images by reference, yielded by a generator: time and heap growth.
 * During 1 and 2 the server's RSS is read from /proc every 50 ms; growth is the peak minus the RSS just before.
 * The zips are built in the OS temp folder (stored, like a zip of photos) and deleted at the end. Downloads and
 * uploads of hundreds of MB are single long requests, so this uses node:http rather than autocannon.
 * Usage: npm run bench:datasets [-- --images 2000 --imports 5 --runs 3]
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ZipArchive } from 'archiver';
import { createWriteStream } from 'node:fs';
import sharp from 'sharp';
import { startBenchServer } from './server.js';

const { values: options } = parseArgs({
  options: { images: { type: 'string', default: '2000' }, imports: { type: 'string', default: '5' }, runs: { type: 'string', default: '3' } },
});
const imagesPerZip = Number(options.images);
const imports = Number(options.imports);
const runs = Number(options.runs);
const MB = 1024 * 1024;

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const loadAverage = () => os.loadavg().map((value) => value.toFixed(2)).join(', ');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Samples the server's RSS until stopped; returns the peak growth over the RSS at the start. */
function watchRss(pid: number) {
  const before = rssMb(pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  return () => {
    clearInterval(timer);
    return { before, peak, growth: peak - before };
  };
}

/** A photo-like JPEG of about 100 KB; every copy made different by one quantisation value (bench/images.ts does the same). */
async function baseJpeg(): Promise<{ bytes: Buffer; variantAt: number }> {
  const noise = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 14 } } }).png().toBuffer();
  const shapes = Buffer.from('<svg width="640" height="480"><rect width="640" height="480" fill="#8aa"/><circle cx="320" cy="240" r="170" fill="#c64"/></svg>');
  const bytes = await sharp(shapes).composite([{ input: noise, blend: 'overlay' }]).jpeg({ quality: 91 }).toBuffer(); // ~100 KB
  const dqt = bytes.indexOf(Buffer.from([0xff, 0xdb]));
  return { bytes, variantAt: dqt + 4 + 64 };
}

async function buildZip(file: string, base: { bytes: Buffer; variantAt: number }, first: number, count: number): Promise<number> {
  const archive = new ZipArchive({ store: true });
  const out = createWriteStream(file);
  const done = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    archive.on('error', reject);
  });
  archive.pipe(out);
  for (let i = first; i < first + count; i++) {
    const jpeg = Buffer.from(base.bytes);
    jpeg[base.variantAt] = 1 + (i % 255);
    jpeg[base.variantAt - 1] = 1 + (Math.floor(i / 255) % 255);
    archive.append(jpeg, { name: `bench/class-${i % 10}/photo-${i}.jpg` });
  }
  await archive.finalize();
  await done;
  return statSync(file).size;
}

/** POSTs the zip from disk as multipart (streamed, never whole in memory); resolves with the status and the body. */
function postArchive(url: string, bearer: string, file: string, datasetId: number | null): Promise<{ status: number; body: string }> {
  const boundary = `inkwellbench${Date.now()}`;
  const field = datasetId === null ? '' : `--${boundary}\r\nContent-Disposition: form-data; name="dataset_id"\r\n\r\n${datasetId}\r\n`;
  const head = Buffer.from(`${field}--${boundary}\r\nContent-Disposition: form-data; name="archive"; filename="bench.zip"\r\nContent-Type: application/zip\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/api/v1/datasets/import`, {
      method: 'POST',
      headers: { authorization: bearer, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + statSync(file).size + tail.length },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write(head);
    createReadStream(file).on('end', () => req.end(tail)).pipe(req, { end: false });
  });
}

/** Downloads the export, counting and discarding the bytes; times the first byte and the whole. */
function download(url: string, bearer: string): Promise<{ bytes: number; firstByteMs: number; totalMs: number; status: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { authorization: bearer } }, (res) => {
        let bytes = 0;
        let firstByteMs = -1;
        res.on('data', (chunk: Buffer) => {
          if (firstByteMs < 0) firstByteMs = performance.now() - started;
          bytes += chunk.length;
        });
        res.on('end', () => resolve({ bytes, firstByteMs, totalMs: performance.now() - started, status: res.statusCode ?? 0 }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Section 6's third item, in this process: another feature hands over 10,000 stored images through index.ts. */
async function featureAdd(): Promise<void> {
  const { createTestApp } = await import('../test/helpers/test-app.js');
  const { createDatasetsService } = await import('../src/features/datasets/index.js');
  const { createBackgroundProviders, createImagesService } = await import('../src/features/images/index.js');
  const t = createTestApp();
  try {
    const user = await t.createUser();
    // Rows only (the images are referenced, never read): what a feature that stored 10,000 corrections has.
    const insert = t.db.prepare(`INSERT INTO stored_images (user_id, sha256, type, width, height, bytes, file, thumbnail_file, thumbnail_bytes, ref_count)
      VALUES (?, ?, 'png', 28, 28, 300, ?, ?, 100, 1) RETURNING id`);
    const ids = t.db.transaction(() => Array.from({ length: 10_000 }, (_, i) => (insert.get(user.id, `sha${i}`, `users/x/${i}.png`, `users/x/${i}.webp`) as { id: number }).id))();
    const library = createImagesService({ db: t.db, store: t.store, background: null, providers: createBackgroundProviders(t.config.backgroundProviders) });
    const datasets = createDatasetsService({ db: t.db, store: t.store, library, importLimits: { maxEntries: 1, maxEntryBytes: 1, maxTotalBytes: 1 } });
    const dataset = datasets.ensureDataset(user.id, { name: 'digit corrections', labels: [] });
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    async function* corrections() {
      for (let i = 0; i < ids.length; i++) {
        if (i % 500 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
        yield { storedImageId: ids[i]!, label: String(i % 10), name: `correction-${i}.png` };
      }
    }
    const started = performance.now();
    const counts = await datasets.addStoredImages(user.id, dataset.id, corrections());
    const ms = performance.now() - started;
    console.log(`\nfeature add (in-process): ${counts.added} of 10,000 stored images referenced into 10 labels in ${(ms / 1000).toFixed(2)} s; ` +
      `heap ${(heapBefore / MB).toFixed(0)} MB before, peak +${((heapPeak - heapBefore) / MB).toFixed(1)} MB while adding`);
  } finally {
    t.close();
  }
}

async function main(): Promise<void> {
  console.log(`Inkwell dataset benchmark: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}`);
  console.log(`load average at the start: ${loadAverage()}`);
  const folder = mkdtempSync(path.join(os.tmpdir(), 'inkwell-bench-zips-'));
  const server = await startBenchServer({ STORAGE_QUOTA_MB: '1000000', DATASET_IMPORT_MAX_MB: '4096', DATASET_IMPORT_MAX_UNCOMPRESSED_MB: '8192' });
  try {
    const base = await baseJpeg();
    console.log(`images: ${base.bytes.length} B JPEG (640x480, photo-like), ${imagesPerZip} per zip, every image different\n`);

    let datasetId: number | null = null;
    const importTimes: number[] = [];
    for (let n = 0; n < imports; n++) {
      const zip = path.join(folder, `bench-${n}.zip`);
      const zipBytes = await buildZip(zip, base, n * imagesPerZip, imagesPerZip);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const stop = watchRss(server.pid);
      const started = performance.now();
      const res = await postArchive(server.url, server.bearer, zip, datasetId);
      const seconds = (performance.now() - started) / 1000;
      const rss = stop();
      rmSync(zip);
      if (res.status !== 201) throw new Error(`import ${n + 1}: ${res.status} ${res.body.slice(0, 500)}`);
      const body = JSON.parse(res.body) as { dataset: { id: number; image_count: number }; report: { imported_count: number; skipped_count: number } };
      datasetId = body.dataset.id;
      importTimes.push(seconds);
      console.log(
        `import ${n + 1}: ${(zipBytes / MB).toFixed(0)} MB zip, ${body.report.imported_count} imported, ${body.report.skipped_count} skipped in ${seconds.toFixed(1)} s ` +
          `(${(imagesPerZip / seconds).toFixed(0)} images/s); server RSS ${rss.before.toFixed(0)} MB before, +${rss.growth.toFixed(0)} MB at the peak; load ${loadAverage()}`,
      );
    }
    console.log(`import median: ${median(importTimes).toFixed(1)} s per ${imagesPerZip} images`);

    for (const [what, query] of [['as stored', ''], ['split 80/10/10', '?split=80,10,10&seed=1']] as const) {
      const results = [];
      for (let run = 0; run < runs; run++) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const stop = watchRss(server.pid);
        const result = await download(`${server.url}/api/v1/datasets/${datasetId}/export${query}`, server.bearer);
        const rss = stop();
        if (result.status !== 200) throw new Error(`export: ${result.status}`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const after = rssMb(server.pid);
        results.push({ ...result, rss });
        console.log(
          `export ${what}, run ${run + 1}: ${(result.bytes / MB).toFixed(0)} MB in ${(result.totalMs / 1000).toFixed(2)} s = ${(result.bytes / MB / (result.totalMs / 1000)).toFixed(0)} MB/s, ` +
            `first byte after ${result.firstByteMs.toFixed(0)} ms; server RSS ${rss.before.toFixed(0)} MB before, +${rss.growth.toFixed(0)} MB at the peak, ` +
            `${after.toFixed(0)} MB 2 s after; load ${loadAverage()}`,
        );
      }
      const rate = median(results.map((r) => r.bytes / MB / (r.totalMs / 1000)));
      console.log(`export ${what} median: ${rate.toFixed(0)} MB/s, RSS growth median +${median(results.map((r) => r.rss.growth)).toFixed(0)} MB`);
    }
  } finally {
    await server.stop();
    rmSync(folder, { recursive: true, force: true });
  }
  await featureAdd();
  console.log(`load average at the end: ${loadAverage()}`);
}

await main();
