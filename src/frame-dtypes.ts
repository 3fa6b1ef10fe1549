/**
 * The dtypes frames travel in between the kernel and the browser (numpy's names; the kernel's
 * `WIRE_DTYPES`), each read as the typed array it is, without a copy.
 */

export const FRAME_DTYPES = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array
} as const;

export type FrameDtype = keyof typeof FRAME_DTYPES;

/** Any typed array a frame arrives in. */
export type FrameData =
  | Uint8Array
  | Uint8ClampedArray
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;
