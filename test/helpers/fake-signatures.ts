import sharp from 'sharp';
import type { Models, SignatureModel } from '../../src/ml/index.js';
import { prepareSignature } from '../../src/ml/signature-image.js';

/**
 * A signature model whose scores a test can predict: images are prepared by the real prepareSignature (so blank,
 * unreadable and oversized images are refused as in production), and the embedding of an image `w` pixels wide is
 * the unit vector at angle (w - 600) / 10 degrees. So `signatureImage(20)` (800 px wide) and `signatureImage(30)`
 * have a cosine similarity of cos(10°), and a crop changes the angle through its width. `rotation` (degrees) turns
 * every embedding of the current version, so embeddings of two versions disagree unless they are recomputed.
 */
export function fakeSignatureModel({ version = 'fake-1', threshold = -0.05, band = { low: -0.1, high: 0 } } = {}) {
  const calls = { images: 0, widths: [] as number[] };
  let rotation = 0;
  const card = {
    name: 'signatures',
    version,
    threshold,
    input: { name: 'image', shape: ['N', 1, 200, 200], dtype: 'float32' as const },
    output: { name: 'embedding', shape: ['N', 8] },
    file: { sha256: '0'.repeat(64) },
    scoring: { rule: 'normalised-mean' },
  };
  const embeddingOf = (width: number) => {
    const radians = (((width - 600) / 10 + rotation) * Math.PI) / 180;
    return Float32Array.of(Math.cos(radians), Math.sin(radians), 0, 0, 0, 0, 0, 0);
  };
  const model: SignatureModel = {
    card,
    threshold,
    inconclusiveBand: band,
    referenceChecks: { nearDuplicateSimilarity: 0.99, outlierScoreBelow: -0.2 },
    embed: async () => {
      throw new Error('the fake embeds files only');
    },
    rulesOf: (version) => (version === card.version ? { card, threshold, inconclusiveBand: band, referenceChecks: model.referenceChecks } : null),
    async embedFilesWithInkMaps(files, { maxPixels = 50_000_000 } = {}) {
      return Promise.all(
        files.map(async (bytes) => {
          const inkMap = await prepareSignature(bytes, { maxPixels });
          const { width = 0 } = await sharp(bytes).metadata();
          calls.images++;
          calls.widths.push(width);
          return { embedding: embeddingOf(width), inkMap, version: card.version };
        }),
      );
    },
    async embedFiles(files, options) {
      return (await this.embedFilesWithInkMaps(files, options)).map((result) => result.embedding);
    },
    close: async () => undefined,
  };
  return {
    model,
    calls,
    /** A new model version whose embeddings are turned by `degrees` against the previous ones. */
    changeVersion(next: string, degrees: number) {
      card.version = next;
      rotation = degrees;
    },
    /** The app's `ml` dependency with this model (the digit model is not used by these tests). */
    ml: { signatures: model } as unknown as Models,
  };
}

/**
 * A signature-like PNG (dark strokes on white) `600 + 10 * angle` px wide and 200 high, the angle the fake model
 * gives it; `seed` changes the strokes, so that images of the same angle are different files.
 */
export function signatureImage(angle: number, seed = 1): Promise<Buffer> {
  const width = Math.round(600 + 10 * angle);
  const wave = 30 + (seed % 7) * 9;
  const path = `M 20 ${120 + (seed % 5) * 6} C ${width * 0.2} ${120 - wave}, ${width * 0.35} ${130 + wave}, ${width * 0.5} 110 S ${width * 0.8} ${80 + (seed % 3) * 10}, ${width - 20} 130`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="200"><rect width="100%" height="100%" fill="#fff"/>` +
    `<path d="${path}" stroke="#111" stroke-width="5" fill="none"/><path d="M ${width * 0.3} 150 l ${40 + seed} -${60 + (seed % 4) * 5}" stroke="#111" stroke-width="4"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A white PNG: no ink at all. */
export const blankImage = (width = 600, height = 200) => sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).png().toBuffer();
