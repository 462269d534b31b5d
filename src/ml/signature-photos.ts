/**
 * Synthetic phone photos of signature scans, to measure verification when the questioned signature is photographed
 * and the references are scans (a clerk enrols scans, then checks a photographed cheque). Used by
 * models/training/photograph-signatures.ts (the card's evaluation.photographed_questioned) and the model test.
 *
 * Each photographed file is the scan framed in a margin of its own paper, lit unevenly (light falling off across the
 * sheet, vignetting, and on half of them the soft-edged shadow of a phone or hand over part of the page), with sensor
 * noise, saved as JPEG. Its lighting comes from the seed and its key (the file's path), so every run makes the same files.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../lib/random.js';
import { writerFolders } from './signature-evaluation.js';

/** One scan as a phone photo of it (see above); the same bytes, key and seed always give the same JPEG. */
export async function photographSignature(bytes: Uint8Array, key: string, seed = 1): Promise<Buffer> {
  const random = seededRandom(createHash('sha256').update(`${seed}:${key}`).digest().readUInt32LE(0));
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

/**
 * Copies the writers' folders (`<writer>/genuine`, `<writer>/forged`; all writers, or those named) from setDir to
 * outDir: the first `references` genuine files (name order, byte-identical copies left out, as the evaluation does)
 * unchanged, every other file
 * photographed, under the scan's own name so that the name order, which picks the references, stays the same.
 * Returns how many files were photographed.
 */
export async function photographWriters(setDir: string, outDir: string, { writers, references, seed = 1 }: { writers?: string[]; references: number; seed?: number }): Promise<number> {
  let made = 0;
  for (const folders of await writerFolders(setDir, writers)) {
    for (const kind of ['genuine', 'forged'] as const) {
      const seen = new Set<string>();
      await mkdir(path.join(outDir, folders.writer, kind), { recursive: true });
      let kept = 0;
      for (const file of folders[kind]) {
        const bytes = await readFile(file);
        const sha = createHash('sha256').update(bytes).digest('hex');
        if (seen.has(sha)) continue;
        seen.add(sha);
        const name = path.basename(file);
        const isReference = kind === 'genuine' && kept++ < references;
        await writeFile(path.join(outDir, folders.writer, kind, name), isReference ? bytes : await photographSignature(bytes, `${folders.writer}/${kind}/${name}`, seed));
        made += isReference ? 0 : 1;
      }
    }
  }
  return made;
}
