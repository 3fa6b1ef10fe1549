/**
 * Reading the shared test vectors (tests/vectors, written by tests/python/make_vectors.py).
 * A helper for the engine-*.test.ts suites, not a test itself.
 */
import { Buffer } from 'buffer';
import { readFileSync } from 'fs';
import { join } from 'path';
import { inflateSync } from 'zlib';

/** An array as make_vectors.py's `enc` writes it. */
export interface Encoded {
  dtype: 'uint8' | 'uint16' | 'int32' | 'float32' | 'float64';
  shape: number[];
  zlib: string;
}

export type Typed = Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array;

/** An encoded array: base64 of the deflated little-endian bytes (this test runs on LE CPUs). */
export function dec(e: Encoded): Typed {
  const raw = inflateSync(Buffer.from(e.zlib, 'base64'));
  const bytes = new Uint8Array(raw.length);
  bytes.set(raw);
  const { buffer } = bytes;
  const typed = {
    uint8: () => new Uint8Array(buffer),
    uint16: () => new Uint16Array(buffer),
    int32: () => new Int32Array(buffer),
    float32: () => new Float32Array(buffer),
    float64: () => new Float64Array(buffer)
  }[e.dtype]();
  expect(typed.length).toBe(e.shape.reduce((a, b) => a * b, 1));
  return typed;
}

/** The largest absolute difference of two equally long arrays; Infinity where one is NaN. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
}

/** A vector file of tests/vectors, parsed. */
export function load<T>(name: string): T {
  return JSON.parse(readFileSync(join(__dirname, '..', 'vectors', name), 'utf8')) as T;
}
