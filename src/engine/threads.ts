/**
 * How many WebAssembly threads the engine runs on, and why one where it is one. Apart from
 * model.ts (which sets onnxruntime-web up with it) so that the page can tell without loading
 * onnxruntime-web.
 */

import type { WasmRuntime } from './runtime';

/** The WebAssembly threads of this page (or worker), and why one where it is one. */
export interface WasmThreads {
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  readonly reason: string | null;
}

/** Threads where the settings leave it to the engine: half the cores the browser reports (the
 * page, the kernel and the server need the rest: on 2 cores a second thread made tracking
 * slower, `make bench`), at most this many, as onnxruntime-web's own default. */
export const MAX_AUTO_THREADS = 4;

/**
 * The threads a run gets: `wanted` (at most the cores the browser reports; 0: half of them,
 * up to MAX_AUTO_THREADS) where the page is cross-origin isolated and the runtime's files are served
 * apart, else one, and why. Threads share memory through SharedArrayBuffer, which only
 * cross-origin isolated pages have.
 */
export function wasmThreads(
  wanted = 0,
  runtime?: WasmRuntime,
  scope: object = globalThis
): WasmThreads {
  const isolated = (scope as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const one = (reason: string): WasmThreads => ({
    threads: 1,
    crossOriginIsolated: isolated,
    reason
  });
  if (!isolated) {
    return one('the page is not cross-origin isolated, so WebAssembly has no shared memory');
  }
  if (!runtime) {
    return one("onnxruntime-web's WebAssembly files are not served apart from the bundle");
  }
  if (wanted === 1) {
    return one('the settings ask for one thread');
  }
  const cores = (scope as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  const available = Math.max(cores ?? 1, 1);
  // More threads than cores only wait on each other.
  const half = Math.min(Math.ceil(available / 2), MAX_AUTO_THREADS);
  const threads = wanted > 1 ? Math.min(wanted, available) : half;
  const said = `the browser reports ${available} core${available > 1 ? 's' : ''}`;
  const reason =
    threads > 1 ? null : wanted > 1 ? said : `${said}: the engine takes half, the page the rest`;
  return { threads, crossOriginIsolated: isolated, reason };
}
