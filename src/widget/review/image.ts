/**
 * Frames to pixels for the review widget: 2-D ndarray views of a frame's samples, contrast
 * limits from percentiles, colour maps as 256-entry RGBA tables, and the RGBA rendering that a
 * canvas's ImageData takes. No DOM here, so all of it runs under jest.
 */
import ndarray from 'ndarray';

import type { FrameData } from '../../frame-dtypes';

/** A frame's samples, in any dtype frames travel in. */
export type Pixels = FrameData;
export type Frame = ndarray.NdArray<Pixels>;

/** A row-major `height x width` view of a frame's samples (no copy). */
export function frameView(data: Pixels, height: number, width: number): Frame {
  if (!(Number.isInteger(height) && height >= 0 && Number.isInteger(width) && width >= 0)) {
    throw new Error(`frame size must be non-negative integers, got ${height} x ${width}`);
  }
  if (data.length !== height * width) {
    throw new Error(
      `a ${height} x ${width} frame needs ${height * width} samples, got ${data.length}`
    );
  }
  return ndarray(data, [height, width]);
}

/**
 * `[height, width]` of a 2-D frame of a supported type. ndarray's dtype (read from the data's
 * class name) rather than instanceof, which fails for arrays from another realm.
 */
function shapeOf(frame: Frame): [number, number] {
  if (frame.dimension !== 2) {
    throw new Error(`a frame is 2-D, got ${frame.dimension} dimensions`);
  }
  if (!['uint8', 'uint16', 'float32'].includes(frame.dtype)) {
    throw new Error(`frames are uint8, uint16 or float32, got ${frame.dtype}`);
  }
  return [frame.shape[0] as number, frame.shape[1] as number];
}

/**
 * The frame's samples in row-major order: its data itself unless it is a strided view, so that
 * the histogram loops stay plain.
 */
function samples(frame: Frame): Pixels {
  const [height, width] = shapeOf(frame);
  const { data, offset, stride } = frame;
  if (offset === 0 && stride[0] === width && stride[1] === 1 && data.length === height * width) {
    return data;
  }
  const copy = new (data.constructor as new (n: number) => Pixels)(height * width);
  for (let i = 0, p = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      copy[p++] = frame.get(i, j);
    }
  }
  return copy;
}

/**
 * Contrast limits: the `low` and `high` percentiles of the frame's finite samples, with
 * numpy's default (linear) interpolation between order statistics. Exact, from histograms:
 * of all 256 or 65536 values of an integer frame, and of a float frame's bit patterns.
 * Always `lo < hi`: a flat frame gives `[v, v + 1]`, a frame without finite samples `[0, 1]`.
 */
export function percentileLimits(frame: Frame, low = 0.5, high = 99.5): [number, number] {
  if (!(low >= 0 && low <= high && high <= 100)) {
    throw new Error(`percentiles must satisfy 0 <= low <= high <= 100, got ${low} and ${high}`);
  }
  const ranked = frame.dtype === 'float32' ? rankFloats(frame) : rankIntegers(frame);
  if (ranked.count === 0) {
    return [0, 1];
  }
  const lo = percentile(ranked, low);
  const hi = percentile(ranked, high);
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** The samples' order statistics, read by rank (0 = smallest); fastest by increasing rank. */
interface Ranked {
  count: number;
  at(rank: number): number;
}

function percentile(ranked: Ranked, p: number): number {
  const position = (p / 100) * (ranked.count - 1);
  const k = Math.floor(position);
  const below = ranked.at(k);
  const fraction = position - k;
  return fraction === 0 ? below : below + fraction * (ranked.at(k + 1) - below);
}

/**
 * The histogram bin holding each rank and the number of samples in the bins before it: one
 * walk over the bins for increasing ranks, a new walk when a rank goes back.
 */
function binCursor(counts: Uint32Array): (rank: number) => [bin: number, before: number] {
  let bin = 0;
  let before = 0;
  return rank => {
    if (rank < before) {
      bin = 0;
      before = 0;
    }
    while (before + (counts[bin] as number) <= rank) {
      before += counts[bin] as number;
      bin++;
    }
    return [bin, before];
  };
}

function rankIntegers(frame: Frame): Ranked {
  const data = samples(frame);
  const counts = new Uint32Array(frame.dtype === 'uint8' ? 256 : 65536);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    counts[v] = (counts[v] as number) + 1;
  }
  const cursor = binCursor(counts);
  return { count: data.length, at: rank => cursor(rank)[0] };
}

/**
 * Float samples ranked through their bits mapped to unsigned keys in the floats' order: a
 * histogram of the keys' high 16 bits finds each rank's bin, and one of the low 16 bits of the
 * keys in that bin finds the exact value. Two or three passes, where sorting a million floats
 * takes a hundred milliseconds. Non-finite keys never share a high bin with finite ones.
 */
function rankFloats(frame: Frame): Ranked {
  const data = samples(frame);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const high = new Uint32Array(65536);
  let count = 0;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] as number;
    if ((b & 0x7f800000) !== 0x7f800000) {
      const bin = floatKey(b) >>> 16;
      high[bin] = (high[bin] as number) + 1;
      count++;
    }
  }
  const highCursor = binCursor(high);
  let lowBin = -1;
  let lowCursor = binCursor(high); // replaced before its first use
  return {
    count,
    at(rank: number): number {
      const [bin, before] = highCursor(rank);
      if (bin !== lowBin) {
        lowBin = bin;
        lowCursor = binCursor(lowHistogram(bits, bin));
      }
      return keyToFloat(((bin << 16) | lowCursor(rank - before)[0]) >>> 0);
    }
  };
}

/** Histogram of the low 16 bits of the keys in one high bin. */
function lowHistogram(bits: Uint32Array, highBin: number): Uint32Array {
  const counts = new Uint32Array(65536);
  for (let i = 0; i < bits.length; i++) {
    const key = floatKey(bits[i] as number);
    if (key >>> 16 === highBin) {
      counts[key & 0xffff] = (counts[key & 0xffff] as number) + 1;
    }
  }
  return counts;
}

/** IEEE 754 bits to a key whose unsigned order is the floats' order (negatives flipped). */
function floatKey(bits: number): number {
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

function keyToFloat(key: number): number {
  scratchBits[0] = key & 0x80000000 ? key & 0x7fffffff : ~key;
  return (scratch[0] as number) + 0; // + 0 turns -0 into 0
}

export type ColormapName = 'gray' | 'viridis' | 'magma' | 'green' | 'magenta' | 'cyan';

/**
 * Evenly spaced anchor colours of each map, interpolated linearly to 256 entries. viridis and
 * magma: matplotlib's colours at indices round(i * 255 / 16), i = 0..16, which keeps every
 * entry within 6/255 of matplotlib's 256-entry tables. The others run from black to a
 * primary or secondary colour, for fluorescence channels.
 */
const ANCHORS: Record<ColormapName, readonly string[]> = {
  gray: ['#000000', '#ffffff'],
  // prettier-ignore
  viridis: [
    '#440154', '#48186a', '#472d7b', '#424086', '#3b528b', '#33638d', '#2c728e', '#26828e',
    '#21918c', '#1f9f88', '#27ad81', '#3dbc74', '#5cc863', '#81d34d', '#aadc32', '#d5e21a',
    '#fde725'
  ],
  // prettier-ignore
  magma: [
    '#000004', '#0a0822', '#1d1147', '#36106b', '#51127c', '#6a1c81', '#832681', '#9c2e7f',
    '#b73779', '#cf4070', '#e55064', '#f4695c', '#fb8761', '#fea571', '#fec287', '#fde0a1',
    '#fcfdbf'
  ],
  green: ['#000000', '#00ff00'],
  magenta: ['#000000', '#ff00ff'],
  cyan: ['#000000', '#00ffff']
};

export const COLORMAPS: readonly ColormapName[] = Object.keys(ANCHORS) as ColormapName[];

const lutCache = new Map<ColormapName, Uint8ClampedArray>();

/**
 * The map's 256 RGBA entries (1024 bytes, alpha 255). Cached and shared between callers, so
 * treat it as read-only.
 */
export function colormapLut(name: ColormapName): Uint8ClampedArray {
  let lut = lutCache.get(name);
  if (!lut) {
    if (!COLORMAPS.includes(name)) {
      throw new Error(`unknown colormap '${name}'; known: ${COLORMAPS.join(', ')}`);
    }
    lut = interpolateLut(ANCHORS[name].map(hexChannels));
    lutCache.set(name, lut);
  }
  return lut;
}

function hexChannels(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function interpolateLut(anchors: [number, number, number][]): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(1024);
  const last = anchors.length - 1;
  for (let k = 0; k < 256; k++) {
    const position = (k / 255) * last;
    const i = Math.min(Math.floor(position), last - 1);
    const f = position - i;
    const [r0, g0, b0] = anchors[i] as [number, number, number];
    const [r1, g1, b1] = anchors[i + 1] as [number, number, number];
    lut.set([mix(r0, r1, f), mix(g0, g1, f), mix(b0, b1, f), 255], 4 * k);
  }
  return lut;
}

function mix(a: number, b: number, f: number): number {
  return Math.round(a + f * (b - a));
}

/**
 * Writes the frame as RGBA into `out` (row-major, 4 * height * width bytes, e.g. an
 * ImageData's data): value v takes LUT entry clamp(round((v - lo) / (hi - lo) * 255), 0, 255),
 * rounding halves up, NaN entry 0. Views with any strides and offset are read as they index.
 */
export function renderFrame(
  frame: Frame,
  limits: [number, number],
  lut: Uint8ClampedArray,
  out: Uint8ClampedArray
): void {
  const [height, width] = shapeOf(frame);
  const [lo, hi] = limits;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
    throw new Error(`contrast limits must be finite with lo < hi, got [${lo}, ${hi}]`);
  }
  if (lut.length !== 1024) {
    throw new Error(`a LUT has 256 RGBA entries (1024 bytes), got ${lut.length} bytes`);
  }
  if (out.length !== 4 * height * width) {
    throw new Error(
      `a ${height} x ${width} frame renders to ${4 * height * width} bytes, got ${out.length}`
    );
  }
  // Whole pixels as 32-bit words: the LUT's bytes are copied in the same way they are written
  // out, so byte order does not matter.
  const colours = new Uint32Array(256);
  new Uint8ClampedArray(colours.buffer).set(lut);
  const aligned = out.byteOffset % 4 === 0;
  const out32 = aligned
    ? new Uint32Array(out.buffer, out.byteOffset, height * width)
    : new Uint32Array(height * width);
  if (frame.dtype === 'float32') {
    paintFloats(frame, lo, hi, colours, out32);
  } else {
    const table = valueColours(frame.dtype === 'uint8' ? 256 : 65536, lo, hi, colours);
    paintThroughTable(frame, table, out32);
  }
  if (!aligned) {
    out.set(new Uint8ClampedArray(out32.buffer));
  }
}

/** Math.round(x) is (x + 0.5) | 0 on [0, 255), many times faster; NaN fails x > 0. */
function lutIndex(v: number, lo: number, hi: number): number {
  const x = ((v - lo) / (hi - lo)) * 255;
  return x > 0 ? (x < 255 ? (x + 0.5) | 0 : 255) : 0;
}

/** The colour of every value an integer frame can hold: one lookup per pixel afterwards. */
function valueColours(values: number, lo: number, hi: number, colours: Uint32Array): Uint32Array {
  const table = new Uint32Array(values);
  for (let v = 0; v < table.length; v++) {
    table[v] = colours[lutIndex(v, lo, hi)] as number;
  }
  return table;
}

function paintThroughTable(frame: Frame, table: Uint32Array, out32: Uint32Array): void {
  const [height, width] = shapeOf(frame);
  const { data, offset } = frame;
  const [rowStride, colStride] = frame.stride as [number, number];
  let p = 0;
  for (let i = 0; i < height; i++) {
    const base = offset + i * rowStride;
    for (let j = 0; j < width; j++) {
      out32[p++] = table[data[base + j * colStride] as number] as number;
    }
  }
}

function paintFloats(
  frame: Frame,
  lo: number,
  hi: number,
  colours: Uint32Array,
  out32: Uint32Array
): void {
  const [height, width] = shapeOf(frame);
  const { data, offset } = frame;
  const [rowStride, colStride] = frame.stride as [number, number];
  let p = 0;
  for (let i = 0; i < height; i++) {
    const base = offset + i * rowStride;
    for (let j = 0; j < width; j++) {
      out32[p++] = colours[lutIndex(data[base + j * colStride] as number, lo, hi)] as number;
    }
  }
}
