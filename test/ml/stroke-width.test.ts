import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FloatImage } from '../../src/ml/float-image.js';
import { strokeWidth, THIN_STROKE_RATIO, widenThinStrokes } from '../../src/ml/stroke-width.js';

/** A 1 drawn as a vertical bar `width` px wide in a crop `height` px tall, with a flag to its left. */
function bar(height: number, width: number): FloatImage {
  const cropWidth = Math.round(height / 2);
  const data = new Float32Array(cropWidth * height);
  const left = cropWidth - width;
  for (let y = 0; y < height; y++) for (let x = left; x < cropWidth; x++) data[y * cropWidth + x] = 1;
  for (let k = 0; k < cropWidth / 2; k++) for (let t = 0; t < width; t++) data[(k + t) * cropWidth + (left - k)] = 1;
  return { data, width: cropWidth, height };
}

describe('stroke width', () => {
  test('when a bar is 6 px wide, then its measured width is about 6 px', () => {
    const width = strokeWidth(bar(120, 6));
    assert.ok(Math.abs(width - 6) < 1, `measured ${width.toFixed(2)}`);
  });

  test('when a digit is drawn with a pen line 4% of its height, then it is widened to the thin-stroke share and keeps its shape', () => {
    const thin = bar(200, 8);
    const widened = widenThinStrokes(thin);
    const ratio = strokeWidth(widened) / Math.max(widened.width, widened.height);
    assert.ok(Math.abs(ratio - THIN_STROKE_RATIO) < 0.02, `ratio after widening ${ratio.toFixed(3)}`);
    // Worked on at most 80 px, and the bar stays a tall stroke, not a blob.
    assert.ok(Math.max(widened.width, widened.height) <= 80 + 2 * 5, `${widened.width}x${widened.height}`);
    assert.ok(widened.height > 2.5 * widened.width, `${widened.width}x${widened.height}`);
  });

  test('when the strokes are already as thick as MNIST draws them, then the digit is left as it is', () => {
    const thick = bar(20, 3);
    assert.equal(widenThinStrokes(thick), thick);
  });

  test('when nothing reaches half intensity, then there is nothing to widen', () => {
    const faint = { data: new Float32Array(100).fill(0.3), width: 10, height: 10 };
    assert.equal(widenThinStrokes(faint), faint);
  });
});
