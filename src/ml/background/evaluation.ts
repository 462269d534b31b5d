/**
 * Quality of background removal on the generated test set (synthetic.ts), through the real remover: each image
 * goes in as its encoded file, the 'mask' output comes back as a PNG, and alpha >= 0.5 is compared with the
 * truth (intersection over union). Ink categories run in document mode, object categories in photo and in
 * plain mode. Used by `npm run eval:background` and test/ml/background-quality.test.ts.
 */
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { BackgroundMode } from './options.js';
import type { BackgroundRemover } from './remover.js';
import { INK_CATEGORIES, makeImage, maskIoU, OBJECT_CATEGORIES, type SampleCategory } from './synthetic.js';

export interface ImageScore {
  name: string;
  category: SampleCategory;
  mode: BackgroundMode;
  seed: number;
  iou: number;
  ms: number;
  description: string;
  method: string;
}

export interface GroupScore {
  category: SampleCategory;
  mode: BackgroundMode;
  n: number;
  iou_mean: number;
  iou_min: number;
  /** Mean wall time of remove() per image (jobs one after another). */
  ms_per_image: number;
  /** The mean per seed, to show the spread between seeds. */
  iou_mean_per_seed: Record<string, number>;
}

export interface EvaluationOptions {
  seeds: number[];
  perCategory: number;
  categories?: readonly SampleCategory[];
  /** Document mode strength (default 50). */
  strength?: number;
  /**
   * Draw the next image while the worker works on the current one: faster (tests), but the drawing then competes
   * with the job for the cores, so the CLI leaves it off for its timings.
   */
  prefetch?: boolean;
  /** Called after each image (progress, failure listing). */
  onImage?: (score: ImageScore) => void;
}

export const modesFor = (category: SampleCategory): BackgroundMode[] =>
  (INK_CATEGORIES as readonly string[]).includes(category) ? ['document'] : ['photo', 'plain'];

async function alphaOf(png: Uint8Array): Promise<Uint8Array> {
  const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`mask came back with ${info.channels} channels`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

export async function evaluateBackgroundRemoval(remover: BackgroundRemover, options: EvaluationOptions): Promise<{ groups: GroupScore[]; images: ImageScore[] }> {
  const categories = options.categories ?? [...INK_CATEGORIES, ...OBJECT_CATEGORIES];
  const images: ImageScore[] = [];
  const plan = options.seeds.flatMap((seed) => categories.flatMap((category) => Array.from({ length: options.perCategory }, (_, index) => ({ seed, category, index }))));
  const draw = (k: number) => (k < plan.length ? makeImage(plan[k]!.category, plan[k]!.seed, plan[k]!.index) : null);
  let next = draw(0);
  for (let k = 0; k < plan.length; k++) {
    const { seed, category } = plan[k]!;
    const sample = await next!;
    next = options.prefetch ? draw(k + 1) : null;
    for (const mode of modesFor(category)) {
      const started = performance.now();
      const result = await remover.remove(sample.file, { mode, output: 'mask', strength: options.strength ?? 50 });
      const ms = performance.now() - started;
      if (result.width !== sample.width || result.height !== sample.height) throw new Error(`${sample.name}: the mask is ${result.width}x${result.height}, the image ${sample.width}x${sample.height}`);
      const score: ImageScore = {
        name: sample.name,
        category,
        mode,
        seed,
        iou: maskIoU(await alphaOf(result.bytes), sample.truth),
        ms,
        description: sample.description,
        method: result.method,
      };
      images.push(score);
      options.onImage?.(score);
    }
    if (!options.prefetch) next = draw(k + 1);
  }
  const groups: GroupScore[] = [];
  for (const category of categories) {
    for (const mode of modesFor(category)) {
      const scores = images.filter((s) => s.category === category && s.mode === mode);
      const perSeed: Record<string, number> = {};
      for (const seed of options.seeds) {
        const ofSeed = scores.filter((s) => s.seed === seed);
        perSeed[String(seed)] = round3(ofSeed.reduce((sum, s) => sum + s.iou, 0) / ofSeed.length);
      }
      groups.push({
        category,
        mode,
        n: scores.length,
        iou_mean: round3(scores.reduce((sum, s) => sum + s.iou, 0) / scores.length),
        iou_min: round3(Math.min(...scores.map((s) => s.iou))),
        ms_per_image: Math.round(scores.reduce((sum, s) => sum + s.ms, 0) / scores.length),
        iou_mean_per_seed: perSeed,
      });
    }
  }
  return { groups, images };
}
