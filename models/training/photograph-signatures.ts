/**
 * Makes "phone photo" copies of a signature set's writers, to measure how verification fares when the questioned
 * signature is photographed and the references are scans (a clerk enrols scans, then checks a photographed cheque).
 *
 *   npx tsx models/training/photograph-signatures.ts <set folder> <output folder> [--writers w010,w011] [--references 5] [--seed 1]
 *
 * Per writer, the first K genuine files (name order, byte-identical copies left out, as eval:signatures does) are
 * copied unchanged: the references. Every other file is "photographed": framed in a margin of the scan's own paper,
 * lit unevenly (light falling off across the sheet, vignetting, and on half of them the soft-edged shadow of a
 * phone or hand over part of the page), with sensor noise, saved as JPEG (under the scan's name). Each file's lighting comes from the seed
 * and its path, so the copies are the same on every run. Then: npm run eval:signatures -- <output folder>.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: { writers: { type: 'string' }, references: { type: 'string', default: '5' }, seed: { type: 'string', default: '1' } },
});
const [setDir, outDir] = positionals;
if (!setDir || !outDir) {
  console.error('usage: npx tsx models/training/photograph-signatures.ts <set folder> <output folder> [--writers a,b] [--references 5] [--seed 1]');
  process.exit(2);
}
const references = Number(options.references);

/** A small seeded generator (mulberry32) per file. */
function randomFor(key: string): () => number {
  let state = createHash('sha256').update(`${options.seed}:${key}`).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function photograph(bytes: Buffer, key: string): Promise<Buffer> {
  const random = randomFor(key);
  const between = (low: number, high: number) => low + (high - low) * random();
  const scan = await sharp(bytes).grayscale().raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = scan.info;
  const levels = Uint8Array.from(scan.data).sort();
  const paper = levels[Math.floor(0.9 * levels.length)]!;
  // The signature sits in a photo of the page around it.
  const margin = Math.round(between(0.1, 0.25) * Math.max(w, h));
  const width = w + 2 * margin;
  const height = h + 2 * margin;
  const angle = between(0, 2 * Math.PI);
  const [dx, dy] = [Math.cos(angle), Math.sin(angle)];
  const falloff = between(0.1, 0.35);
  const vignette = between(0.1, 0.3);
  const shadow = random() < 0.5 ? { angle: between(0, 2 * Math.PI), offset: between(-0.25, 0.25), depth: between(0.55, 0.75), soft: between(0.01, 0.04) } : null;
  const diagonal = Math.hypot(width, height);
  const out = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width - 0.5;
      const v = y / height - 0.5;
      const inside = x >= margin && x < margin + w && y >= margin && y < margin + h;
      let level = inside ? scan.data[(y - margin) * w + (x - margin)]! : paper;
      let light = (1 - falloff * (0.5 + (u * dx + v * dy) / Math.SQRT2)) * (1 - vignette * 2 * (u * u + v * v));
      if (shadow) {
        const distance = (u * Math.cos(shadow.angle) + v * Math.sin(shadow.angle) - shadow.offset) * (diagonal / Math.max(width, height));
        const cover = 1 / (1 + Math.exp(-distance / shadow.soft));
        light *= 1 - (1 - shadow.depth) * cover;
      }
      // Box-Muller noise, sigma 3 grey levels.
      const noise = 3 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      level = level * light + noise;
      out[y * width + x] = Math.max(0, Math.min(255, Math.round(level)));
    }
  }
  return sharp(out, { raw: { width, height, channels: 1 } }).jpeg({ quality: 85 }).toBuffer();
}

const writers = options.writers ? options.writers.split(',').map((name) => name.trim()) : (await readdir(setDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
let made = 0;
for (const writer of writers) {
  for (const kind of ['genuine', 'forged'] as const) {
    const folder = path.join(setDir, writer, kind);
    const files = (await readdir(folder).catch(() => [] as string[])).filter((name) => /\.(png|jpe?g|tiff?|bmp|webp)$/i.test(name)).sort();
    const seen = new Set<string>();
    await mkdir(path.join(outDir, writer, kind), { recursive: true });
    let kept = 0;
    for (const file of files) {
      const bytes = await readFile(path.join(folder, file));
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (seen.has(sha)) continue;
      seen.add(sha);
      const isReference = kind === 'genuine' && kept++ < references;
      // JPEG content under the scan's own name, so that the name order (which picks the references) stays the same.
      const target = path.join(outDir, writer, kind, file);
      await writeFile(target, isReference ? bytes : await photograph(bytes, `${writer}/${kind}/${file}`));
      made += isReference ? 0 : 1;
    }
  }
}
console.log(`${writers.length} writers: ${made} files photographed into ${outDir}`);
