import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

export interface MnistSet {
  /** count x 28 x 28 bytes, white ink on black as published. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export const DEFAULT_DATASETS_DIR = path.resolve(import.meta.dirname, '../../../../shared/datasets');

export function mnistTestFilesPresent(datasetsDir: string): boolean {
  return ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].every((name) => existsSync(path.join(datasetsDir, 'mnist', name)));
}

/** Reads the 10,000 MNIST test images and labels from the IDX files in <datasetsDir>/mnist. */
export const readMnistTest = (datasetsDir: string): MnistSet => readMnist(datasetsDir, 't10k');

/** Reads one part of MNIST (`train`: 60,000 images, `t10k`: the 10,000 test images) from <datasetsDir>/mnist. */
export function readMnist(datasetsDir: string, part: 'train' | 't10k'): MnistSet {
  const read = (name: string) => gunzipSync(readFileSync(path.join(datasetsDir, 'mnist', name)));
  const images = read(`${part}-images-idx3-ubyte.gz`);
  const labels = read(`${part}-labels-idx1-ubyte.gz`);
  if (images.readUInt32BE(0) !== 2051 || labels.readUInt32BE(0) !== 2049) throw new Error('not MNIST IDX files');
  const count = images.readUInt32BE(4);
  return { images: images.subarray(16, 16 + count * 784), labels: labels.subarray(8, 8 + count), count };
}

/** The seed of the renders behind the card's production-path figure and the model test. */
export const MNIST_RENDER_SEED = 20261124;

/**
 * Renders one MNIST digit the way users send digits: dark ink on white, enlarged 2-3x (bilinear) and placed
 * at a random position in a larger canvas, encoded as PNG. The production path must undo all of that.
 */
export async function renderDarkOnLight(set: MnistSet, index: number, random: () => number): Promise<Uint8Array> {
  const side = Math.round(28 * (2 + random()));
  const marginX = Math.round(10 + 80 * random());
  const marginY = Math.round(10 + 80 * random());
  const left = Math.floor(random() * marginX);
  const top = Math.floor(random() * marginY);
  const inverted = Buffer.from(set.images.subarray(index * 784, (index + 1) * 784).map((v) => 255 - v));
  const png = await sharp(inverted, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(side, side, { kernel: 'linear' })
    .extend({ left, right: marginX - left, top, bottom: marginY - top, background: '#ffffff' })
    .png({ compressionLevel: 1 })
    .toBuffer();
  return new Uint8Array(png);
}
