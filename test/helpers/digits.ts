import sharp from 'sharp';
import { loadModels } from '../../src/ml/index.js';
import { shippedModelsDir } from './ml-models.js';

/** Each digit as a hand might draw it, as SVG paths in a 100x120 box (the shipped model reads all ten right). */
export const DRAWN_DIGITS = [
  'M 50 10 C 15 10 15 110 50 110 C 85 110 85 10 50 10 Z',
  'M 40 25 L 55 10 L 55 110',
  'M 20 35 C 20 0 85 0 80 35 C 75 60 30 80 20 110 L 85 110',
  'M 20 20 C 40 0 85 5 80 30 C 75 55 45 55 45 58 C 90 60 90 110 50 110 C 35 110 25 105 18 98',
  'M 60 10 L 15 80 L 85 80 M 65 45 L 65 115',
  'M 80 10 L 30 10 L 25 55 C 60 40 90 60 85 85 C 80 115 35 115 20 100',
  'M 75 15 C 40 5 20 50 22 80 C 25 115 80 115 80 85 C 80 55 35 55 24 80',
  'M 15 12 L 85 12 L 40 110',
  'M 50 60 C 10 50 20 10 50 10 C 80 10 90 50 50 60 C 5 70 15 112 50 112 C 85 112 95 70 50 60 Z',
  'M 78 40 C 78 5 22 5 22 40 C 22 70 78 70 78 40 L 75 112',
];

/** A digit drawn as the drawing pad sends it: dark strokes on a white 280x280 canvas, as a PNG. */
export function drawnDigitPng(digit: number, { stroke = 12 } = {}): Promise<Buffer> {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="280" height="280"><rect width="100%" height="100%" fill="#fff"/>` +
    `<g transform="translate(70 60) scale(1.4)"><path d="${DRAWN_DIGITS[digit]}" fill="none" stroke="#111" stroke-width="${stroke}" stroke-linecap="round" stroke-linejoin="round"/></g></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A blank canvas: what the pad sends before anything is drawn. */
export const blankCanvasPng = () => sharp({ create: { width: 280, height: 280, channels: 3, background: '#ffffff' } }).png().toBuffer();

/** The shipped models in one worker, for an app under test (`...deps` into createTestApp); close them after. */
export async function shippedDigitModels() {
  const models = await loadModels({ modelsDir: shippedModelsDir, workers: 1, intraOpNumThreads: 1 });
  return { deps: { models: { versions: models.versions }, ml: models }, close: () => models.close() };
}
