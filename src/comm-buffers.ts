/** Jupyter widgets hand a custom message's binary buffers over as ArrayBuffers or DataViews. */
export type Buffers = ArrayBuffer[] | DataView[];

/** The bytes of one buffer as an ArrayBuffer of its own (a DataView's slice is copied). */
export function bytesOf(buffer: ArrayBuffer | DataView): ArrayBuffer {
  return buffer instanceof DataView
    ? (buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer)
    : buffer;
}
