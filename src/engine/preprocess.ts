/**
 * Frame preprocessing, the browser's twin of `cellpoint.engine.preprocess` (python_stub), held
 * to it by the shared vectors in tests/vectors/preprocess.json.
 *
 * Every frame is normalised on its own (its 1st percentile to 0, its 99.8th to 1, read off a
 * sorted regular subsample without interpolation; a frame of dark cells on a bright background,
 * polarity "dark", is negated first so that its cells come out bright), resized so that cells
 * have the model's canonical diameter (linear interpolation, widened to a triangle filter when
 * shrinking), and zero-padded to a multiple of 16. Coordinates map between input and model
 * pixels with pixel centres at integers.
 *
 * Images are plain typed arrays in row-major order (`data[y * width + x]`); no DOM, so that
 * this runs in a Web Worker. Float32 arithmetic is reproduced with `Math.fround` where Python
 * computes in float32, so that the bounds and normalised values are bit-identical to numpy's.
 */

import type { FrameData } from '../frame-dtypes';

/** Cell diameter, in model pixels, the network is trained for. */
export const CANONICAL_DIAMETER = 24;
/** Cells brighter than the background (fluorescence) or darker (phase contrast, brightfield). */
export type Polarity = 'bright' | 'dark';
/** The padded model input is a multiple of this (the encoder's coarsest stride). */
export const PAD_MULTIPLE = 16;
/** Model pixels per feature-map (heatmap) pixel: the encoder's output stride. */
export const FEATURE_STRIDE = 4;
export const LOW_PERCENTILE = 1.0;
export const HIGH_PERCENTILE = 99.8;
/** Pixels sampled (on a regular stride) to estimate the percentiles. */
export const MAX_SAMPLES = 65536;

const fround = Math.fround;

/**
 * The normalisation bounds of a frame (negated where `sign` is -1): its 1st and 99.8th
 * percentiles (as float32), from every `ceil(n / MAX_SAMPLES)`-th pixel, sorted, indexed without
 * interpolation.
 */
export function percentileBounds(
  frame: ArrayLike<number>,
  sign: 1 | -1 = 1
): { lo: number; hi: number } {
  const n = frame.length;
  if (n === 0) {
    throw new Error('cannot normalise an empty frame');
  }
  const step = Math.max(1, Math.ceil(n / MAX_SAMPLES));
  const sample = new Float32Array(Math.ceil(n / step));
  for (let i = 0, j = 0; i < n; i += step, j++) {
    sample[j] = sign * (frame[i] as number); // stored as float32, like numpy's astype(float32)
  }
  const last = sample.length - 1;
  const kLo = Math.floor((LOW_PERCENTILE / 100) * last);
  const kHi = Math.floor((HIGH_PERCENTILE / 100) * last);
  // The values sorting would put at kLo and kHi (NaN last, as numpy's sort), by selection.
  let end = sample.length;
  for (let i = 0; i < end;) {
    if (Number.isNaN(sample[i] as number)) {
      end -= 1;
      sample[i] = sample[end] as number;
      sample[end] = NaN;
    } else {
      i++;
    }
  }
  const pick = (k: number, from: number): number =>
    k >= end ? NaN : select(sample, k, from, end - 1);
  const lo = pick(kLo, 0);
  return { lo, hi: pick(kHi, kLo) };
}

/**
 * The k-th smallest of `a[left..right]` (no NaN there), moving it to `a[k]` with smaller values
 * before and larger after (Hoare's selection, median-of-three pivots): O(n) on average.
 */
function select(a: Float32Array, k: number, left: number, right: number): number {
  let l = left;
  let r = right;
  while (r > l) {
    const m = (l + r) >> 1;
    // Median of three to a[m], then partition around it.
    if ((a[m] as number) < (a[l] as number)) {
      swap(a, m, l);
    }
    if ((a[r] as number) < (a[l] as number)) {
      swap(a, r, l);
    }
    if ((a[r] as number) < (a[m] as number)) {
      swap(a, r, m);
    }
    const pivot = a[m] as number;
    let i = l;
    let j = r;
    while (i <= j) {
      while ((a[i] as number) < pivot) {
        i++;
      }
      while ((a[j] as number) > pivot) {
        j--;
      }
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) {
      r = j;
    } else if (k >= i) {
      l = i;
    } else {
      break; // a[j + 1 .. i - 1] all equal the pivot
    }
  }
  return a[k] as number;
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i] as number;
  a[i] = a[j] as number;
  a[j] = t;
}

/**
 * Maps a frame's 1st percentile to 0 and its 99.8th to 1 (values outside are kept), in float32
 * exactly as numpy does; a frame of dark cells is negated first. Writes into `out` when given
 * (which may be a reused buffer).
 */
export function normalise(
  frame: ArrayLike<number>,
  out?: Float32Array,
  polarity: Polarity = 'bright'
): Float32Array {
  const n = frame.length;
  const result = out ?? new Float32Array(n);
  if (result.length !== n) {
    throw new Error(`output of ${result.length} values for a frame of ${n}`);
  }
  const sign = polarity === 'dark' ? -1 : 1;
  const { lo, hi } = percentileBounds(frame, sign);
  const scale = fround(1 / Math.max(fround(hi - lo), fround(1e-6)));
  for (let i = 0; i < n; i++) {
    // float32(value) - lo, then * scale, each rounded to float32 as numpy's float32 ops are
    // (negating a float32 is exact).
    result[i] = fround(sign * fround(frame[i] as number) - lo) * scale;
  }
  return result;
}

/**
 * Resize weights of one axis as a band matrix: output pixel `i` is the sum over `k` in
 * `[start[i], start[i] + count[i])` of `weights[offset[i] + k - start[i]] * input[k]`.
 * The same numbers as `resize_weights(n_in, n_out)`'s non-zero entries (float32).
 */
export interface ResizeBands {
  readonly nIn: number;
  readonly nOut: number;
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly offset: Int32Array;
  readonly weights: Float32Array;
}

/**
 * Linear-interpolation weights from `nIn` to `nOut` pixels, widened to a triangle of the output
 * pixel's footprint when shrinking (antialiasing), each row summing to 1; only the non-zero
 * band of each row is kept.
 */
export function resizeBands(nIn: number, nOut: number): ResizeBands {
  if (!(Number.isInteger(nIn) && nIn >= 1 && Number.isInteger(nOut) && nOut >= 1)) {
    throw new Error(`resize needs positive integer sizes, got ${nIn} -> ${nOut}`);
  }
  const scale = nOut / nIn;
  const support = Math.max(1, 1 / scale);
  const start = new Int32Array(nOut);
  const count = new Int32Array(nOut);
  const offset = new Int32Array(nOut);
  const all: number[] = [];
  const row: number[] = [];
  for (let i = 0; i < nOut; i++) {
    const centre = (i + 0.5) / scale - 0.5;
    const k0 = Math.max(0, Math.ceil(centre - support));
    const k1 = Math.min(nIn - 1, Math.floor(centre + support));
    row.length = 0;
    let first = -1;
    let sum = 0;
    for (let k = k0; k <= k1; k++) {
      const w = Math.max(1 - Math.abs(k - centre) / support, 0);
      if (w > 0 && first < 0) {
        first = k;
      }
      if (first >= 0) {
        row.push(w);
        sum += w;
      }
    }
    while (row.length > 0 && row[row.length - 1] === 0) {
      row.pop();
    }
    start[i] = Math.max(first, 0);
    count[i] = row.length;
    offset[i] = all.length;
    for (const w of row) {
      all.push(fround(w / sum));
    }
  }
  return { nIn, nOut, start, count, offset, weights: Float32Array.from(all) };
}

/** The dense `[nOut, nIn]` matrix of `resizeBands` (for tests and inspection). */
export function resizeWeights(nIn: number, nOut: number): Float32Array {
  const b = resizeBands(nIn, nOut);
  const dense = new Float32Array(nOut * nIn);
  for (let i = 0; i < nOut; i++) {
    for (let j = 0; j < (b.count[i] as number); j++) {
      dense[i * nIn + (b.start[i] as number) + j] = b.weights[
        (b.offset[i] as number) + j
      ] as number;
    }
  }
  return dense;
}

/** Python's `round`: to the nearest integer, halves to even. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) {
    return f + 1;
  }
  if (d < 0.5) {
    return f;
  }
  return f % 2 === 0 ? f : f + 1;
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** How input frames of (height, width) map onto the model's padded input. */
export class Geometry {
  /** Model pixels per input pixel. */
  readonly scale: number;
  /** Frame size after resizing, (height, width). */
  readonly resized: readonly [number, number];
  /** Model input size after padding, (height, width). */
  readonly padded: readonly [number, number];

  constructor(
    readonly height: number,
    readonly width: number,
    scale: number
  ) {
    if (!(Number.isInteger(height) && height >= 1 && Number.isInteger(width) && width >= 1)) {
      throw new Error(`frame size must be positive integers, got ${height} x ${width}`);
    }
    if (!(scale > 0 && Number.isFinite(scale))) {
      throw new Error(`scale must be positive, got ${scale}`);
    }
    this.scale = scale;
    const h = Math.max(1, roundHalfEven(height * scale));
    const w = Math.max(1, roundHalfEven(width * scale));
    this.resized = [h, w];
    this.padded = [roundUp(h, PAD_MULTIPLE), roundUp(w, PAD_MULTIPLE)];
  }

  /** The geometry that brings nuclei of `diameter` input pixels to the canonical diameter. */
  static forDiameter(height: number, width: number, diameter: number): Geometry {
    if (!(diameter > 0)) {
      throw new Error(`cell diameter must be positive, got ${diameter}`);
    }
    return new Geometry(height, width, CANONICAL_DIAMETER / diameter);
  }

  /** Input-pixel (y, x) -> model-pixel (y, x), rounded to float32 as Python's. */
  toModel(y: number, x: number): [number, number] {
    const [h, w] = this.resized;
    return [
      fround((y + 0.5) * (h / this.height) - 0.5),
      fround((x + 0.5) * (w / this.width) - 0.5)
    ];
  }

  /** Model-pixel (y, x) -> input-pixel (y, x), in float64. */
  toInput(y: number, x: number): [number, number] {
    const [h, w] = this.resized;
    return [(y + 0.5) * (this.height / h) - 0.5, (x + 0.5) * (this.width / w) - 0.5];
  }

  /** `toInput` over columns (the tracks table's y and x). */
  toInputColumns(y: ArrayLike<number>, x: ArrayLike<number>): { y: Float64Array; x: Float64Array } {
    if (y.length !== x.length) {
      throw new Error(`y has ${y.length} values and x ${x.length}`);
    }
    const [h, w] = this.resized;
    const fy = this.height / h;
    const fx = this.width / w;
    const outY = new Float64Array(y.length);
    const outX = new Float64Array(x.length);
    for (let i = 0; i < y.length; i++) {
      outY[i] = ((y[i] as number) + 0.5) * fy - 0.5;
      outX[i] = ((x[i] as number) + 0.5) * fx - 0.5;
    }
    return { y: outY, x: outX };
  }
}

/**
 * Normalises, resizes and pads frames of one geometry. The band matrices and the scratch
 * buffers are built once and reused, so a stream of frames allocates only its outputs.
 *
 * The resize applies only each row's non-zero band: the vertical pass (rows of `Wy @ frame`,
 * in float32) then the horizontal one (`@ Wx^T`), the order numpy multiplies in. Sums may
 * differ from numpy's float32 BLAS in the last bits (measured < 1e-6).
 */
export class Preprocessor {
  private readonly wy: ResizeBands;
  /** Horizontal bands padded with zero weights to a common width `kx`, for a tight loop. */
  private readonly kx: number;
  private readonly xStart: Int32Array;
  private readonly xWeights: Float32Array;
  private readonly norm: Float32Array;
  private readonly tmp: Float32Array;

  constructor(
    readonly geometry: Geometry,
    readonly polarity: Polarity = 'bright'
  ) {
    const [h, w] = geometry.resized;
    this.wy = resizeBands(geometry.height, h);
    const wx = resizeBands(geometry.width, w);
    const kx = Math.max(...wx.count);
    this.kx = kx;
    this.xStart = new Int32Array(w);
    this.xWeights = new Float32Array(w * kx);
    for (let j = 0; j < w; j++) {
      const start = wx.start[j] as number;
      const first = Math.min(start, geometry.width - kx); // the band stays inside the row
      this.xStart[j] = first;
      for (let k = 0; k < (wx.count[j] as number); k++) {
        this.xWeights[j * kx + start - first + k] = wx.weights[
          (wx.offset[j] as number) + k
        ] as number;
      }
    }
    this.norm = new Float32Array(geometry.height * geometry.width);
    this.tmp = new Float32Array(h * geometry.width);
  }

  /** Padded model input `[paddedH * paddedW]` (row-major) of an `[height * width]` frame. */
  run(frame: FrameData | ArrayLike<number>, out?: Float32Array): Float32Array {
    const { height, width } = this.geometry;
    const [h, w] = this.geometry.resized;
    const [ph, pw] = this.geometry.padded;
    if (frame.length !== height * width) {
      throw new Error(
        `frame of ${frame.length} pixels does not match the sequence's ${height} x ${width}`
      );
    }
    const result = out ?? new Float32Array(ph * pw);
    if (result.length !== ph * pw) {
      throw new Error(`output of ${result.length} values for a ${ph} x ${pw} model input`);
    }
    const norm = normalise(frame, this.norm, this.polarity);
    // Vertical: tmp[i, :] = sum_k Wy[i, k] * norm[k, :], accumulated in float32 as a GEMM.
    const { tmp, wy, kx, xStart, xWeights } = this;
    for (let i = 0; i < h; i++) {
      const k0 = wy.start[i] as number;
      const o = wy.offset[i] as number;
      const nk = wy.count[i] as number;
      const row = i * width;
      const w0 = wy.weights[o] as number;
      const base0 = k0 * width;
      for (let c = 0; c < width; c++) {
        tmp[row + c] = w0 * (norm[base0 + c] as number);
      }
      for (let j = 1; j < nk; j++) {
        const wgt = wy.weights[o + j] as number;
        const base = (k0 + j) * width;
        for (let c = 0; c < width; c++) {
          tmp[row + c] = (tmp[row + c] as number) + wgt * (norm[base + c] as number);
        }
      }
    }
    // Horizontal: out[i, j] = sum_k tmp[i, k] * Wx[j, k].
    for (let i = 0; i < h; i++) {
      const rowIn = i * width;
      const rowOut = i * pw;
      if (kx === 2) {
        for (let j = 0; j < w; j++) {
          const b = rowIn + (xStart[j] as number);
          result[rowOut + j] =
            (xWeights[2 * j] as number) * (tmp[b] as number) +
            (xWeights[2 * j + 1] as number) * (tmp[b + 1] as number);
        }
      } else {
        for (let j = 0; j < w; j++) {
          const b = rowIn + (xStart[j] as number);
          const o = j * kx;
          let s = 0;
          for (let k = 0; k < kx; k++) {
            s += (xWeights[o + k] as number) * (tmp[b + k] as number);
          }
          result[rowOut + j] = s;
        }
      }
      if (out && pw > w) {
        result.fill(0, rowOut + w, rowOut + pw);
      }
    }
    if (out) {
      result.fill(0, h * pw); // the padding: zero
    }
    return result;
  }
}
