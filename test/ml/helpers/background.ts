import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { shippedModelsDir } from '../../helpers/ml-models.js';

/** A writable copy of models/u2netp.{onnx,json} that a test may damage; `remove()` deletes it. */
export function copyBackgroundModel() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-u2netp-'));
  for (const name of ['u2netp.onnx', 'u2netp.json']) copyFileSync(path.join(shippedModelsDir, name), path.join(dir, name));
  const cardPath = path.join(dir, 'u2netp.json');
  return {
    dir,
    readCard: () => JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, any>,
    writeCard: (card: unknown) => writeFileSync(cardPath, JSON.stringify(card)),
    writeModel: (bytes: Uint8Array) => writeFileSync(path.join(dir, 'u2netp.onnx'), bytes),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Decodes an encoded result to raw pixels with the file's own channels (sharp would widen a grey PNG to RGB). */
export async function pixelsOf(bytes: Uint8Array) {
  const { channels } = await sharp(bytes).metadata();
  const image = sharp(bytes);
  const { data, info } = await (channels === 1 ? image.extractChannel(0) : image).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels, fileChannels: channels };
}

/** A red disc on a plain light background with a soft drop shadow, as a PNG. */
export function discOnPlain(width = 320, height = 240, background = '#d8e4f0', disc = '#c03020'): Promise<Buffer> {
  const r = Math.min(width, height) * 0.3;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><filter id="s"><feGaussianBlur stdDeviation="${r * 0.08}"/></filter></defs>
    <rect width="100%" height="100%" fill="${background}"/>
    <circle cx="${width / 2 + r * 0.15}" cy="${height / 2 + r * 0.15}" r="${r}" fill="#000" opacity="0.3" filter="url(#s)"/>
    <circle cx="${width / 2}" cy="${height / 2}" r="${r}" fill="${disc}"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}
