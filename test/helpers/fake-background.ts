import sharp from 'sharp';
import type { BackgroundRemover, BackgroundOptions } from '../../src/ml/index.js';

/**
 * A stand-in for the background remover, for HTTP tests about what happens around it (providers, storage,
 * pages): it answers at once with a PNG of the input's size and records what it was asked.
 */
export function fakeBackgroundRemover() {
  const calls: { kind: 'remove' | 'fromCutout'; options: Partial<BackgroundOptions> }[] = [];
  const result = async (image: Uint8Array, method: string) => {
    const { width = 16, height = 16 } = await sharp(image).metadata();
    const bytes = await sharp({ create: { width, height, channels: 4, background: { r: 20, g: 20, b: 20, alpha: 0.5 } } }).png().toBuffer();
    return { bytes, type: 'png' as const, width, height, method };
  };
  const remover: BackgroundRemover = {
    version: 'fake',
    async remove(image, options) {
      calls.push({ kind: 'remove', options });
      return result(image, 'fake built-in method');
    },
    async fromCutout(cutout, options) {
      calls.push({ kind: 'fromCutout', options });
      return result(cutout, 'external cut-out');
    },
    close: async () => undefined,
  };
  return { remover, calls };
}
