/**
 * Runs every signature image of the training sets through the production preprocessing (prepareSignature) once and
 * caches the result for train_signatures.py, so the model is trained on exactly what the app will feed it.
 *
 *   npx tsx models/training/export-signatures.ts [data folder, default ../shared/datasets] [--cache models/training/.cache] [--fit contain|fill|sqrt-aspect]
 *
 * Writes <cache>/signatures.u8 (N x 200 x 200 bytes, row-major; prepareSignature's floats times 255, which are whole
 * numbers by construction) and <cache>/signatures.index.json (one entry per image, in the same order, and the fit, which
 * the training script writes into the card: 'contain', the default, is what 2.0.0 was trained on; 'fill' and 'sqrt-aspect'
 * were measured for a 3.0.0 that was not shipped, models/README.md).
 * Byte-identical copies of a file within one writer's genuine or forged folder are kept once (bhsig260-bengali has ~1000).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { ImageInputError } from '../../src/ml/image-input.js';
import { isSingleSignatureFit, prepareSignature, SIGNATURE_SIDE, SINGLE_SIGNATURE_FITS, type SingleFit } from '../../src/ml/signature-image.js';

const SETS = ['bhsig260-bengali', 'sigcomp2011-dutch'] as const;
const KINDS = ['genuine', 'forged'] as const;
/** Two files in flight keep both cores of the training machine busy without starving the other jobs on it. */
const CONCURRENCY = 2;
const MAX_PIXELS = 40_000_000;

interface CachedImage {
  set: string;
  writer: string;
  kind: (typeof KINDS)[number];
  file: string;
  sha256: string;
}

function parseArguments(argv: string[]): { dataDir: string; cacheDir: string; fit: SingleFit } {
  let dataDir = '../shared/datasets';
  let cacheDir = 'models/training/.cache';
  let fit: SingleFit = 'contain';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--cache') cacheDir = argv[++i] ?? cacheDir;
    else if (argv[i] === '--fit') {
      const value = argv[++i];
      // A cache holds one channel per image; a two-fit model is trained on two caches (train-signatures.sh).
      if (!isSingleSignatureFit(value)) throw new Error(`--fit takes ${SINGLE_SIGNATURE_FITS.join(', ')}; got ${value}`);
      fit = value;
    } else dataDir = argv[i]!;
  }
  return { dataDir, cacheDir, fit };
}

async function listDirectories(folder: string): Promise<string[]> {
  return (await readdir(folder, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** Every image once per writer and kind, in set, writer, kind, file-name order; later byte-identical copies are dropped. */
async function collectImages(signaturesDir: string): Promise<{ images: (CachedImage & { bytes: Buffer })[]; duplicates: number }> {
  const images: (CachedImage & { bytes: Buffer })[] = [];
  let duplicates = 0;
  for (const set of SETS) {
    for (const writer of await listDirectories(path.join(signaturesDir, set))) {
      for (const kind of KINDS) {
        const folder = path.join(signaturesDir, set, writer, kind);
        const files = (await readdir(folder)).filter((name) => name.toLowerCase().endsWith('.png')).sort();
        const seen = new Set<string>();
        for (const file of files) {
          const bytes = await readFile(path.join(folder, file));
          const sha256 = createHash('sha256').update(bytes).digest('hex');
          if (seen.has(sha256)) {
            duplicates++;
            continue;
          }
          seen.add(sha256);
          images.push({ set, writer, kind, file, sha256, bytes });
        }
      }
    }
  }
  return { images, duplicates };
}

async function main(): Promise<void> {
  const { dataDir, cacheDir, fit } = parseArguments(process.argv.slice(2));
  sharp.concurrency(1);
  const started = Date.now();
  const { images, duplicates } = await collectImages(path.join(dataDir, 'signatures'));
  console.log(`${images.length} images, ${duplicates} byte-identical copies left out`);

  const pixels = SIGNATURE_SIDE * SIGNATURE_SIDE;
  const prepared: (Uint8Array | null)[] = new Array(images.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const index = next++;
      const image = images[index]!;
      try {
        const input = await prepareSignature(image.bytes, { maxPixels: MAX_PIXELS, fit });
        prepared[index] = Uint8Array.from(input, (value) => Math.round(value * 255));
      } catch (error) {
        if (!(error instanceof ImageInputError)) throw error;
        console.warn(`skipped ${image.set}/${image.writer}/${image.kind}/${image.file}: ${error.reason}`);
      }
      if (index % 500 === 0) console.log(`${index}/${images.length}  ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  const kept = images.flatMap((image, i) => (prepared[i] ? [{ image, pixels: prepared[i] }] : []));
  const tensor = Buffer.alloc(kept.length * pixels);
  kept.forEach(({ pixels: values }, i) => tensor.set(values, i * pixels));
  const index = kept.map(({ image: { set, writer, kind, file, sha256 } }) => ({ set, writer, kind, file, sha256 }));
  await mkdir(cacheDir, { recursive: true });
  await writeFile(path.join(cacheDir, 'signatures.u8'), tensor);
  await writeFile(path.join(cacheDir, 'signatures.index.json'), JSON.stringify({ side: SIGNATURE_SIDE, fit, images: index }));
  console.log(`wrote ${kept.length} images to ${cacheDir} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

await main();
