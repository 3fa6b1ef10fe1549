/**
 * Preprocessing in TypeScript against the Python reference (tests/vectors/preprocess.json,
 * written by tests/python/make_vectors.py): normalisation bounds and values, resize weights,
 * geometry and coordinate mapping, and the padded model input; plus its speed on 1024 x 1024.
 */
import {
  Geometry,
  MAX_SAMPLES,
  normalise,
  percentileBounds,
  Polarity,
  Preprocessor,
  resizeBands,
  resizeWeights,
  roundHalfEven
} from '../../src/engine';
import { dec, Encoded, load, maxDiff } from './vectors';

interface PreprocessVector {
  frame: Encoded;
  normalised: Encoded;
  frame_float: Encoded;
  normalised_float: Encoded;
  frame_uint8: Encoded;
  normalised_uint8: Encoded;
  normalised_dark: Encoded;
  normalised_float_dark: Encoded;
  frames: {
    diameter: number;
    polarity: Polarity;
    resized: number[];
    padded: number[];
    expected: Encoded;
  }[];
  skewed_frames: {
    height: number;
    width: number;
    indices: Encoded;
    expected: Encoded;
  }[];
  weights: { n_in: number; n_out: number; expected: Encoded }[];
  geometries: {
    height: number;
    width: number;
    diameter: number;
    scale: number;
    resized: number[];
    padded: number[];
    input_y: Encoded;
    input_x: Encoded;
    model_y: Encoded;
    model_x: Encoded;
    back_y: Encoded;
    back_x: Encoded;
  }[];
}

const V = load<PreprocessVector>('preprocess.json');

/** The frame make_vectors.skewed_frame builds: skewed pseudo-random uint16 values. */
function skewedFrame(height: number, width: number): Uint16Array {
  const out = new Uint16Array(height * width);
  for (let i = 0; i < out.length; i++) {
    const u = (i * 40503) % 65521;
    out[i] = Math.floor((u * u) / 65521) + (i % 7) * 3;
  }
  return out;
}

describe('normalise against the Python reference', () => {
  it.each([
    ['uint16', V.frame, V.normalised],
    ['float32', V.frame_float, V.normalised_float],
    ['uint8', V.frame_uint8, V.normalised_uint8]
  ])('%s frame', (_name, frame, expected) => {
    // Bounds, scale and every value are float32 steps as numpy's: bit-identical.
    expect(maxDiff(normalise(dec(frame)), dec(expected))).toBe(0);
  });

  it.each([
    ['uint16', V.frame, V.normalised_dark],
    ['float32', V.frame_float, V.normalised_float_dark]
  ])('%s frame of dark cells (negated first)', (_name, frame, expected) => {
    const out = normalise(dec(frame), undefined, 'dark');
    expect(maxDiff(out, dec(expected))).toBe(0);
    expect(maxDiff(out, normalise(dec(frame)))).toBeGreaterThan(0.5);
  });

  it.each(V.skewed_frames.map(s => [`${s.height} x ${s.width}`, s] as const))(
    'percentiles of a subsampled %s frame',
    (_name, s) => {
      const out = normalise(skewedFrame(s.height, s.width));
      const picked = Array.from(dec(s.indices), i => out[i] as number);
      expect(maxDiff(picked, dec(s.expected))).toBe(0);
    }
  );

  it('has frames on both sides of the subsampling threshold', () => {
    const steps = V.skewed_frames.map(s => Math.ceil((s.height * s.width) / MAX_SAMPLES));
    expect(new Set(steps)).toEqual(new Set([1, 2, 3, 11]));
  });

  it('reads percentiles without interpolation', () => {
    // 0..9999 shuffled: index int(0.01 * 9999) = 99 and int(0.998 * 9999) = 9979 of the sorted.
    const values = Float32Array.from({ length: 10000 }, (_, i) => (i * 7919) % 10000);
    expect(percentileBounds(values)).toEqual({ lo: 99, hi: 9979 });
    const out = normalise(values);
    expect(out[values.indexOf(99)]).toBe(0);
    expect(out[values.indexOf(9979)]).toBeCloseTo(1, 6);
  });

  it('survives a flat frame', () => {
    const out = normalise(new Uint16Array(64).fill(7));
    expect(Array.from(out)).toEqual(new Array(64).fill(0));
  });

  it('rejects an empty frame', () => {
    expect(() => normalise(new Uint8Array(0))).toThrow('cannot normalise an empty frame');
  });
});

describe('resize weights against the Python reference', () => {
  it.each(V.weights.map(w => [`${w.n_in} -> ${w.n_out}`, w] as const))('%s', (_name, w) => {
    expect(maxDiff(resizeWeights(w.n_in, w.n_out), dec(w.expected))).toBeLessThanOrEqual(1e-7);
  });

  it('keeps only the non-zero band of each row', () => {
    const b = resizeBands(1024, 384);
    expect(Math.max(...b.count)).toBeLessThanOrEqual(6);
    expect(Math.min(...b.count)).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < b.nOut; i++) {
      let sum = 0;
      for (let j = 0; j < (b.count[i] as number); j++) {
        const v = b.weights[(b.offset[i] as number) + j] as number;
        expect(v).toBeGreaterThan(0);
        sum += v;
      }
      expect(sum).toBeCloseTo(1, 6);
    }
  });
});

describe('geometry against the Python reference', () => {
  it.each(V.geometries.map(g => [`${g.height} x ${g.width}, diameter ${g.diameter}`, g] as const))(
    '%s',
    (_name, g) => {
      const geo = Geometry.forDiameter(g.height, g.width, g.diameter);
      expect(geo.scale).toBe(g.scale);
      expect(geo.resized).toEqual(g.resized);
      expect(geo.padded).toEqual(g.padded);
      const [iy, ix] = [dec(g.input_y), dec(g.input_x)];
      const model = Array.from(iy, (y, i) => geo.toModel(y, ix[i] as number));
      const [modelY, modelX] = [model.map(m => m[0]), model.map(m => m[1])];
      expect(maxDiff(modelY, dec(g.model_y))).toBe(0);
      expect(maxDiff(modelX, dec(g.model_x))).toBe(0);
      const back = model.map(([y, x]) => geo.toInput(y, x));
      const [backY, backX] = [back.map(b => b[0]), back.map(b => b[1])];
      expect(maxDiff(backY, dec(g.back_y))).toBe(0);
      expect(maxDiff(backX, dec(g.back_x))).toBe(0);
      const columns = geo.toInputColumns(modelY, modelX);
      expect(maxDiff(columns.y, dec(g.back_y))).toBe(0);
      expect(maxDiff(columns.x, dec(g.back_x))).toBe(0);
    }
  );

  it('rounds halves to even, as Python', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001, 7].map(roundHalfEven)).toEqual([
      0, 2, 2, 4, 2, 3, 7
    ]);
  });

  it('rejects a non-positive diameter', () => {
    expect(() => Geometry.forDiameter(10, 10, 0)).toThrow('cell diameter must be positive, got 0');
    expect(() => Geometry.forDiameter(10, 10, NaN)).toThrow('cell diameter must be positive');
  });
});

describe('Preprocessor against the Python reference', () => {
  const frame = dec(V.frame) as Uint16Array;
  const [height, width] = V.frame.shape as [number, number];

  it.each(V.frames.map(f => [f.diameter, f.polarity, f] as const))(
    'diameter %s, %s cells',
    (_d, _p, f) => {
      const geo = Geometry.forDiameter(height, width, f.diameter);
      expect(geo.resized).toEqual(f.resized);
      expect(geo.padded).toEqual(f.padded);
      const prep = new Preprocessor(geo, f.polarity);
      const out = prep.run(frame);
      expect(out.length).toBe((f.padded[0] as number) * (f.padded[1] as number));
      expect(maxDiff(out, dec(f.expected))).toBeLessThanOrEqual(1e-5);
      // A reused output buffer gives the same, padding included.
      const reused = new Float32Array(out.length).fill(5);
      expect(prep.run(frame, reused)).toBe(reused);
      expect(maxDiff(reused, out)).toBe(0);
    }
  );

  it('rejects a frame of another size', () => {
    const prep = new Preprocessor(Geometry.forDiameter(height, width, 16));
    expect(() => prep.run(new Uint16Array(10))).toThrow(
      `frame of 10 pixels does not match the sequence's ${height} x ${width}`
    );
  });
});
