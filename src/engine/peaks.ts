/**
 * Cell centres from the encoder's heatmap: the browser's twin of `cellpoint.engine.raw.find_peaks`,
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

/** The sister head's map `[3 * height * width]`: midpoint probability, then L cos 2θ, L sin 2θ. */
export interface SisterMap {
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

/**
 * Sister pairs in a sister map: `[K * 5]` rows (xa, ya, xb, yb, score) in model pixels, the
 * twin of `cellpoint.engine.raw.find_sisters`. Each midpoint peak reads the doubled-angle
 * half-axis at its map pixel; square roots alone recover the axis, so both hosts round alike.
 */
export function findSisters(
  map: SisterMap,
  threshold: number,
  minSeparation: number
): Float32Array {
  const { data, height: h, width: w } = map;
  if (data.length !== 3 * h * w) {
    throw new Error(`sister map of ${data.length} values is not 3 x ${h} x ${w}`);
  }
  const peaks = findPeaks(
    { data: data.subarray(0, h * w), height: h, width: w },
    threshold,
    minSeparation
  );
  const out = new Float32Array((peaks.length / 3) * 5);
  for (let k = 0, r = 0; k < peaks.length; k += 3, r += 5) {
    const x = peaks[k] as number;
    const y = peaks[k + 1] as number;
    const ix = Math.min(w - 1, Math.max(0, Math.floor((x + 0.5) / FEATURE_STRIDE)));
    const iy = Math.min(h - 1, Math.max(0, Math.floor((y + 0.5) / FEATURE_STRIDE)));
    const cos2 = data[h * w + iy * w + ix] as number;
    const sin2 = data[2 * h * w + iy * w + ix] as number;
    const half = Math.sqrt(cos2 * cos2 + sin2 * sin2);
    const hx = Math.sqrt(Math.max(0, (half * (half + cos2)) / 2));
    const hy = Math.sqrt(Math.max(0, (half * (half - cos2)) / 2)) * (sin2 < 0 ? -1 : 1);
    out.set([x - hx, y - hy, x + hx, y + hy, peaks[k + 2] as number], r);
  }
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
