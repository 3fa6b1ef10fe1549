/**
 * Cell centres from the encoder's heatmap: the browser's twin of `cellpoint.raw.find_peaks`,
 * held to it by tests/vectors/peaks.json. Float32 steps of the Python code are reproduced with
 * `Math.fround`, so that both hosts find the same peaks at the same (float32) positions.
 */

import { FEATURE_STRIDE } from './preprocess';

const fround = Math.fround;

/** A heatmap `[height * width]` (row-major), as the encoder returns it (stride 4). */
export interface Heatmap {
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

/**
 * Cell centres in a heatmap: `[K * 3]` rows (x, y, score) in model pixels, sorted by (y, x).
 *
 * A peak is a pixel above `threshold` that is greater than its left/upper neighbours and not
 * less than its right/lower ones (so a plateau yields one peak), refined to sub-pixel by a
 * parabola through each axis' neighbours. Of peaks closer than `minSeparation`, the higher
 * survives (ties: the earlier in row-major order). Pixels outside the map count as -Infinity;
 * a NaN pixel is no peak, nor is its neighbour.
 */
export function findPeaks(
  heatmap: Heatmap,
  threshold: number,
  minSeparation: number
): Float32Array {
  const { data, height: h, width: w } = heatmap;
  if (data.length !== h * w) {
    throw new Error(`heatmap of ${data.length} values is not ${h} x ${w}`);
  }
  const thr = fround(threshold); // numpy compares float32 maps with a float32 threshold
  const at = (y: number, x: number): number =>
    y < 0 || y >= h || x < 0 || x >= w ? -Infinity : (data[y * w + x] as number);
  const xs: number[] = [];
  const ys: number[] = [];
  const scores: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = data[y * w + x] as number;
      if (!(c > thr)) {
        continue;
      }
      if (
        c > at(y - 1, x - 1) &&
        c > at(y - 1, x) &&
        c > at(y - 1, x + 1) &&
        c > at(y, x - 1) &&
        c >= at(y, x + 1) &&
        c >= at(y + 1, x - 1) &&
        c >= at(y + 1, x) &&
        c >= at(y + 1, x + 1)
      ) {
        const fx = parabola(at(y, x - 1), at(y, x + 1), c);
        const fy = parabola(at(y - 1, x), at(y + 1, x), c);
        xs.push((x + fx + 0.5) * FEATURE_STRIDE - 0.5);
        ys.push((y + fy + 0.5) * FEATURE_STRIDE - 0.5);
        scores.push(c);
      }
    }
  }
  // By score, then row-major (candidates are in row-major order already).
  const order = scores.map((_, i) => i);
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const minSq = minSeparation * minSeparation;
  const kept: number[] = [];
  for (const i of order) {
    const xi = xs[i] as number;
    const yi = ys[i] as number;
    let free = true;
    for (const j of kept) {
      const dx = xi - (xs[j] as number);
      const dy = yi - (ys[j] as number);
      if (!(dx * dx + dy * dy >= minSq)) {
        free = false;
        break;
      }
    }
    if (free) {
      kept.push(i);
    }
  }
  kept.sort((a, b) => a - b);
  const out = new Float32Array(kept.length * 3);
  kept.forEach((i, r) => {
    out[3 * r] = xs[i] as number;
    out[3 * r + 1] = ys[i] as number;
    out[3 * r + 2] = scores[i] as number;
  });
  return out;
}

/** Sub-pixel offset of a parabola's vertex through three samples, in [-0.5, 0.5] (float32). */
function parabola(before: number, after: number, centre: number): number {
  const b = Number.isFinite(before) ? before : centre;
  const a = Number.isFinite(after) ? after : centre;
  const curvature = fround(fround(b - fround(2 * centre)) + a);
  const offset = curvature < 0 ? fround(fround(b - a) / fround(2 * curvature)) : 0;
  return Math.min(Math.max(offset, -0.5), 0.5);
}
