/** Inputs for the benchmarks, drawn by code from a seed (no data set needed): digit-like and signature-like pen strokes. */
import sharp from 'sharp';

/** A seeded generator, so every run draws the same inputs. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function strokesSvg(width: number, height: number, paths: string[], strokeWidth: number): Buffer {
  const body = paths.map((d) => `<path d="${d}" fill="none" stroke="#111" stroke-width="${strokeWidth}" stroke-linecap="round" stroke-linejoin="round"/>`);
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#fff"/>${body.join('')}</svg>`);
}

/** A loop-and-tail shape like a hand-drawn digit, on a 280x280 canvas as the draw pad sends it. */
export async function drawnDigitPng(seed: number): Promise<Uint8Array> {
  const next = random(seed);
  const at = (base: number, spread: number) => (base + (next() - 0.5) * spread).toFixed(1);
  const loop = `M ${at(140, 40)} ${at(60, 20)} C ${at(60, 40)} ${at(50, 30)}, ${at(60, 40)} ${at(150, 30)}, ${at(140, 40)} ${at(140, 20)} C ${at(220, 40)} ${at(130, 30)}, ${at(210, 40)} ${at(50, 30)}, ${at(140, 40)} ${at(60, 20)}`;
  const tail = `M ${at(150, 40)} ${at(140, 20)} Q ${at(160, 60)} ${at(200, 40)}, ${at(130, 50)} ${at(240, 20)}`;
  return sharp(strokesSvg(280, 280, [loop, tail], 14 + next() * 8)).png().toBuffer();
}

/** A few connected cursive-like curves and an underline, like a scanned signature (700x260). */
export async function drawnSignaturePng(seed: number): Promise<Uint8Array> {
  const next = random(seed);
  let x = 60;
  let d = `M ${x} ${150 + next() * 40}`;
  while (x < 600) {
    const step = 30 + next() * 50;
    d += ` C ${x + step * 0.3} ${40 + next() * 80}, ${x + step * 0.7} ${180 + next() * 60}, ${x + step} ${110 + next() * 60}`;
    x += step;
  }
  const underline = `M ${80 + next() * 40} ${215 + next() * 15} Q 350 ${200 + next() * 30}, ${560 + next() * 80} ${210 + next() * 20}`;
  return sharp(strokesSvg(700, 260, [d, underline], 2.5 + next() * 2)).png().toBuffer();
}
