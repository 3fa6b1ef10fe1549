/**
 * Frames to pixels: frame views, percentile contrast limits (exact, against hand-computed
 * values and a sorted reference), colour maps, and RGBA rendering of plain and strided views.
 */
import ndarray from 'ndarray';

import {
  COLORMAPS,
  colormapLut,
  frameView,
  percentileLimits,
  Pixels,
  renderFrame
} from '../../src/widget/review/image';
import { random } from './random';

function shuffle<T extends { length: number; [i: number]: number }>(a: T, seed: number): T {
  const next = random(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a;
}

/** numpy.percentile (linear) by sorting: the reference the histograms must match. */
function sortedPercentile(values: ArrayLike<number>, p: number): number {
  const finite = Array.from(values)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const position = (p / 100) * (finite.length - 1);
  const k = Math.floor(position);
  const below = finite[k] as number;
  const fraction = position - k;
  return fraction === 0 ? below : below + fraction * ((finite[k + 1] as number) - below);
}

/** The LUT indices a rendered frame used, read back through the gray map (R = index). */
function grayIndices(rgba: Uint8ClampedArray): number[] {
  return Array.from({ length: rgba.length / 4 }, (_, i) => rgba[4 * i] as number);
}

function renderGray(frame: ndarray.NdArray<Pixels>, limits: [number, number]): number[] {
  const [h, w] = frame.shape as [number, number];
  const out = new Uint8ClampedArray(4 * h * w);
  renderFrame(frame, limits, colormapLut('gray'), out);
  return grayIndices(out);
}

describe('frameView', () => {
  it('views the data row-major without copying', () => {
    const data = new Uint16Array([1, 2, 3, 4, 5, 6]);
    const frame = frameView(data, 2, 3);
    expect(frame.shape).toEqual([2, 3]);
    expect(frame.get(1, 0)).toBe(4);
    expect(frame.data).toBe(data);
  });

  it('throws when the sample count does not match the size', () => {
    expect(() => frameView(new Uint8Array(5), 2, 3)).toThrow(
      'a 2 x 3 frame needs 6 samples, got 5'
    );
    expect(() => frameView(new Uint8Array(6), -2, -3)).toThrow('non-negative integers');
  });
});

describe('percentileLimits', () => {
  it('gives the exact percentiles of 0..9999 shuffled, for every sample type', () => {
    for (const make of [(n: number) => new Uint16Array(n), (n: number) => new Float32Array(n)]) {
      const data = make(10000);
      data.forEach((_, i) => (data[i] = i));
      shuffle(data, 1);
      const frame = frameView(data, 100, 100);
      // numpy.percentile(np.arange(10000), [0.5, 99.5]) = [49.995, 9949.005]
      const [lo, hi] = percentileLimits(frame);
      expect(lo).toBeCloseTo(49.995, 9);
      expect(hi).toBeCloseTo(9949.005, 9);
      expect(percentileLimits(frame, 0, 100)).toEqual([0, 9999]);
      expect(percentileLimits(frame, 50, 50)).toEqual([4999.5, 5000.5]);
      const [lo1, hi99] = percentileLimits(frame, 1, 99);
      expect(lo1).toBeCloseTo(99.99, 9);
      expect(hi99).toBeCloseTo(9899.01, 9);
    }
  });

  it('interpolates between order statistics like numpy (hand-computed)', () => {
    // Sorted [0, 10, 20, 30, 40]: 25 % is rank 1 -> 10; 90 % is rank 3.6 -> 30 + 0.6 * 10.
    const frame = frameView(new Uint8Array([40, 0, 30, 10, 20]), 1, 5);
    const [q1, p90] = percentileLimits(frame, 25, 90);
    expect(q1).toBe(10);
    expect(p90).toBeCloseTo(36, 12);
    const [lo, hi] = percentileLimits(frame, 10, 62.5);
    expect(lo).toBeCloseTo(4, 12); // rank 0.4
    expect(hi).toBeCloseTo(25, 12); // rank 2.5
  });

  it('matches a sorted reference on random floats with negatives, repeats, NaN and infinities', () => {
    const next = random(7);
    const data = new Float32Array(50 * 40).map((_, i) => {
      const u = next();
      if (i % 97 === 0) {
        return [NaN, Infinity, -Infinity][i % 3] as number;
      }
      return u < 0.1 ? -0 : u < 0.2 ? 3.25 : (u - 0.4) * 1e4;
    });
    const frame = frameView(data, 50, 40);
    for (const [low, high] of [
      [0.5, 99.5],
      [0, 100],
      [13, 87.25],
      [10, 10.01]
    ] as const) {
      const [lo, hi] = percentileLimits(frame, low, high);
      expect(lo).toBe(sortedPercentile(data, low) + 0);
      expect(hi).toBe(sortedPercentile(data, high) + 0);
    }
  });

  it('matches a sorted reference on random uint8 and uint16 frames and views', () => {
    const next = random(11);
    const bytes = Uint8Array.from({ length: 30 * 20 }, () => Math.floor(next() ** 3 * 256));
    const words = Uint16Array.from({ length: 30 * 20 }, () => Math.floor(next() * 65536));
    for (const data of [bytes, words]) {
      const frame = frameView(data, 30, 20);
      const view = frame.lo(3, 2).hi(20, 11).step(2, 3);
      const viewed = Array.from({ length: 10 * 4 }, (_, i) => view.get(Math.floor(i / 4), i % 4));
      for (const [low, high] of [
        [0.5, 99.5],
        [2, 98],
        [33.3, 66.6]
      ] as const) {
        expect(percentileLimits(frame, low, high)).toEqual([
          sortedPercentile(data, low),
          sortedPercentile(data, high)
        ]);
        expect(percentileLimits(view, low, high)).toEqual([
          sortedPercentile(viewed, low),
          sortedPercentile(viewed, high)
        ]);
      }
    }
  });

  it('is exact for tiny float differences and values of both signs', () => {
    const data = new Float32Array([1.0000001, 1, -1e-30, 1e30, -1e30, 1e-30, 0.5, 2, -2]);
    const frame = frameView(data, 3, 3);
    expect(percentileLimits(frame, 0, 100)).toEqual([Math.fround(-1e30), Math.fround(1e30)]);
    const sorted = Array.from(data).sort((a, b) => a - b);
    // Percentiles 12.5 k land exactly on rank k of the 9 samples.
    for (let k = 0; k < 9; k++) {
      const [value] = percentileLimits(frame, 12.5 * k, 100);
      expect(value).toBe(sorted[k]);
    }
    expect(sorted.slice(2, 7)).toEqual([
      Math.fround(-1e-30),
      Math.fround(1e-30),
      0.5,
      1,
      Math.fround(1.0000001)
    ]);
  });

  it('counts uint8 and uint16 extremes', () => {
    expect(percentileLimits(frameView(new Uint8Array([0, 255, 255, 0]), 2, 2), 0, 100)).toEqual([
      0, 255
    ]);
    const wide = frameView(new Uint16Array([65535, 0, 1000, 65535]), 2, 2);
    expect(percentileLimits(wide, 0, 100)).toEqual([0, 65535]);
    // Sorted [0, 1000, 65535, 65535]: the median is halfway between 1000 and 65535.
    expect(percentileLimits(wide, 50, 100)).toEqual([33267.5, 65535]);
  });

  it('keeps lo < hi for flat and empty frames', () => {
    expect(percentileLimits(frameView(new Uint16Array(9).fill(7), 3, 3))).toEqual([7, 8]);
    expect(percentileLimits(frameView(new Float32Array(4).fill(-2.5), 2, 2))).toEqual([-2.5, -1.5]);
    expect(
      percentileLimits(frameView(new Float32Array([NaN, Infinity, -Infinity, NaN]), 2, 2))
    ).toEqual([0, 1]);
    expect(percentileLimits(frameView(new Uint8Array(0), 0, 0))).toEqual([0, 1]);
    // 99 % zeros: both percentiles are 0.
    const mostlyZero = new Uint8Array(1000);
    mostlyZero[3] = 200;
    expect(percentileLimits(frameView(mostlyZero, 10, 100))).toEqual([0, 1]);
  });

  it('reads only the samples of a strided view', () => {
    // 4 x 4 with a 2 x 2 window (rows 1..2, columns 1..2) holding 10, 20, 30, 40.
    const data = new Uint16Array(16).fill(60000);
    data.set([10, 20], 5);
    data.set([30, 40], 9);
    const window = frameView(data, 4, 4).lo(1, 1).hi(2, 2);
    expect(percentileLimits(window, 0, 100)).toEqual([10, 40]);
    const floats = frameView(Float32Array.from(data), 4, 4).lo(1, 1).hi(2, 2).transpose(1, 0);
    expect(percentileLimits(floats, 0, 100)).toEqual([10, 40]);
    expect(percentileLimits(floats, 50, 50)).toEqual([25, 26]);
  });

  it('rejects bad percentiles and non-2-D or unsupported arrays', () => {
    const frame = frameView(new Uint8Array(4), 2, 2);
    expect(() => percentileLimits(frame, 60, 40)).toThrow('0 <= low <= high <= 100');
    expect(() => percentileLimits(frame, -1, 40)).toThrow('0 <= low <= high <= 100');
    expect(() => percentileLimits(frame, 1, 101)).toThrow('0 <= low <= high <= 100');
    const line = ndarray(new Uint8Array(4), [4]);
    expect(() => percentileLimits(line)).toThrow('a frame is 2-D, got 1 dimensions');
    const ints = ndarray(new Int16Array(4), [2, 2]) as unknown as ndarray.NdArray<Pixels>;
    expect(() => percentileLimits(ints)).toThrow('frames are uint8, uint16 or float32, got int16');
  });
});

describe('colormapLut', () => {
  it('has 256 opaque RGBA entries for every map, and caches them', () => {
    expect(COLORMAPS).toEqual(['gray', 'viridis', 'magma', 'green', 'magenta', 'cyan']);
    for (const name of COLORMAPS) {
      const lut = colormapLut(name);
      expect(lut).toHaveLength(1024);
      expect(lut.filter((_, i) => i % 4 === 3).every(a => a === 255)).toBe(true);
      expect(colormapLut(name)).toBe(lut);
    }
  });

  it('runs from black to the named colour for the single-channel maps', () => {
    const entry = (name: (typeof COLORMAPS)[number], k: number): number[] =>
      Array.from(colormapLut(name).subarray(4 * k, 4 * k + 4));
    for (let k = 0; k < 256; k++) {
      expect(entry('gray', k)).toEqual([k, k, k, 255]);
    }
    expect(entry('green', 0)).toEqual([0, 0, 0, 255]);
    expect(entry('green', 255)).toEqual([0, 255, 0, 255]);
    expect(entry('green', 128)).toEqual([0, 128, 0, 255]);
    expect(entry('magenta', 255)).toEqual([255, 0, 255, 255]);
    expect(entry('magenta', 51)).toEqual([51, 0, 51, 255]);
    expect(entry('cyan', 255)).toEqual([0, 255, 255, 255]);
    expect(entry('cyan', 200)).toEqual([0, 200, 200, 255]);
  });

  it("stays within 6/255 of matplotlib's viridis and magma", () => {
    // matplotlib 3.x: np.round(colormaps[name].colors * 255) at these indices. Over all 256
    // entries the largest difference measured is 6 (viridis, index 246) and 3 (magma, index 4).
    const reference = {
      viridis: {
        0: [68, 1, 84],
        24: [72, 35, 116],
        51: [65, 68, 135],
        77: [52, 96, 141],
        102: [42, 120, 142],
        128: [33, 145, 140],
        153: [34, 168, 132],
        179: [68, 191, 112],
        204: [122, 209, 81],
        230: [189, 223, 38],
        246: [231, 228, 25],
        255: [253, 231, 37]
      },
      magma: {
        0: [0, 0, 4],
        4: [2, 1, 9],
        24: [19, 13, 52],
        51: [59, 15, 112],
        77: [101, 26, 128],
        102: [140, 41, 129],
        128: [183, 55, 121],
        153: [222, 73, 104],
        179: [247, 112, 92],
        204: [254, 159, 109],
        230: [254, 207, 146],
        255: [252, 253, 191]
      }
    } as const;
    for (const [name, entries] of Object.entries(reference)) {
      const lut = colormapLut(name as 'viridis' | 'magma');
      for (const [k, rgb] of Object.entries(entries)) {
        const got = Array.from(lut.subarray(4 * Number(k), 4 * Number(k) + 3));
        const worst = Math.max(...got.map((v, c) => Math.abs(v - (rgb[c] as number))));
        expect(worst).toBeLessThanOrEqual(6);
      }
      // The ends are the anchors themselves.
      expect(Array.from(lut.subarray(0, 3))).toEqual(entries[0]);
      expect(Array.from(lut.subarray(1020, 1023))).toEqual(entries[255]);
    }
  });

  it('names the known maps for an unknown one', () => {
    expect(() => colormapLut('jet' as 'gray')).toThrow(
      "unknown colormap 'jet'; known: gray, viridis, magma, green, magenta, cyan"
    );
    expect(() => colormapLut('toString' as 'gray')).toThrow("unknown colormap 'toString'");
  });
});

describe('renderFrame', () => {
  it('maps values through the limits to LUT entries (hand-computed)', () => {
    // lo 10, hi 20: v -> round((v - 10) / 10 * 255), clamped.
    const frame = frameView(new Uint8Array([0, 10, 11, 15, 19, 20, 200, 12]), 2, 4);
    expect(renderGray(frame, [10, 20])).toEqual([0, 0, 26, 128, 230, 255, 255, 51]);
  });

  it('writes colours of the LUT with their alpha, row-major', () => {
    const frame = frameView(new Uint16Array([0, 1000, 500, 250]), 2, 2);
    const out = new Uint8ClampedArray(16);
    const lut = colormapLut('viridis');
    renderFrame(frame, [0, 1000], lut, out);
    const entry = (k: number): number[] => Array.from(lut.subarray(4 * k, 4 * k + 4));
    // 500 -> 127.5 -> 128 (halves round up); 250 -> 63.75 -> 64.
    expect(Array.from(out)).toEqual([...entry(0), ...entry(255), ...entry(128), ...entry(64)]);
  });

  it('maps floats per pixel, NaN to entry 0 and infinities to the ends', () => {
    const frame = frameView(
      new Float32Array([NaN, Infinity, -Infinity, -0.5, 0.25, 0.5, 1.5, 0.998]),
      2,
      4
    );
    expect(renderGray(frame, [0, 1])).toEqual([0, 255, 0, 0, 64, 128, 255, 254]);
  });

  it('gives monotone grey levels from 0 to 255 on a ramp, for every sample type', () => {
    const ramps: Pixels[] = [
      Uint8Array.from({ length: 256 }, (_, i) => i),
      Uint16Array.from({ length: 1000 }, (_, i) => 3000 + i * 7),
      Float32Array.from({ length: 777 }, (_, i) => -1 + i / 100)
    ];
    for (const ramp of ramps) {
      const frame = frameView(ramp, 1, ramp.length);
      const levels = renderGray(frame, percentileLimits(frame, 0, 100));
      expect(levels[0]).toBe(0);
      expect(levels[levels.length - 1]).toBe(255);
      expect(levels.every((v, i) => i === 0 || v >= (levels[i - 1] as number))).toBe(true);
    }
    // A 256-value uint8 ramp over limits [0, 255] is the identity.
    expect(renderGray(frameView(ramps[0] as Uint8Array, 16, 16), [0, 255])).toEqual(
      Array.from({ length: 256 }, (_, i) => i)
    );
  });

  it('follows the strides and offset of transposed and sliced views', () => {
    // 3 x 4 frame holding 0..11 row-major.
    const counting = Array.from({ length: 12 }, (_, i) => i);
    for (const make of [Uint8Array, Uint16Array, Float32Array]) {
      const frame = frameView(new make(counting), 3, 4);
      // Transposed: 4 x 3, element (i, j) = j * 4 + i.
      expect(renderGray(frame.transpose(1, 0), [0, 255])).toEqual([
        0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11
      ]);
      // Rows 1..2, columns 1..3 step 2: [[5, 7], [9, 11]].
      expect(renderGray(frame.lo(1, 1).step(1, 2), [0, 255])).toEqual([5, 7, 9, 11]);
      // Flipped columns: negative stride.
      expect(renderGray(frame.step(1, -1).hi(1, 4), [0, 255])).toEqual([3, 2, 1, 0]);
    }
  });

  it('writes into an output that is not 4-byte aligned', () => {
    const frame = frameView(new Uint8Array([0, 255]), 1, 2);
    const buffer = new Uint8ClampedArray(9);
    const out = buffer.subarray(1);
    renderFrame(frame, [0, 255], colormapLut('green'), out);
    expect(Array.from(buffer)).toEqual([0, 0, 0, 0, 255, 0, 255, 0, 255]);
  });

  it('checks the output size, the limits and the LUT', () => {
    const frame = frameView(new Uint8Array(6), 2, 3);
    const lut = colormapLut('gray');
    expect(() => renderFrame(frame, [0, 1], lut, new Uint8ClampedArray(23))).toThrow(
      'a 2 x 3 frame renders to 24 bytes, got 23'
    );
    const out = new Uint8ClampedArray(24);
    expect(() => renderFrame(frame, [5, 5], lut, out)).toThrow('lo < hi');
    expect(() => renderFrame(frame, [0, NaN], lut, out)).toThrow('lo < hi');
    expect(() => renderFrame(frame, [0, 1], lut.subarray(0, 1020), out)).toThrow('1024 bytes');
  });

  it('renders a megapixel uint16 frame', () => {
    const data = Uint16Array.from({ length: 1024 * 1024 }, (_, i) => (i * 37) % 65536);
    const frame = frameView(data, 1024, 1024);
    const out = new Uint8ClampedArray(4 * data.length);
    renderFrame(frame, percentileLimits(frame), colormapLut('magma'), out);
    const k = 777 * 1024 + 5;
    const [lo, hi] = percentileLimits(frame);
    const index = Math.min(
      255,
      Math.max(0, Math.round((((data[k] as number) - lo) / (hi - lo)) * 255))
    );
    expect(Array.from(out.subarray(4 * k, 4 * k + 4))).toEqual(
      Array.from(colormapLut('magma').subarray(4 * index, 4 * index + 4))
    );
  });
});
