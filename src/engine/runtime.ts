/**
 * Which of onnxruntime-web's WebAssembly builds the engine loads, and where they are served.
 * Apart from model.ts (which loads onnxruntime-web) so that the page can choose without it.
 */

import type { BackendChoice } from './model';

/**
 * Where one onnxruntime-web WebAssembly build is served: its loader script and its binary. A
 * threaded run needs both as files of their own, for every thread's worker loads the script
 * again by its URL.
 */
export interface WasmRuntime {
  readonly mjs: string;
  readonly wasm: string;
}

/**
 * The two builds the engine serves. `webgpu` (onnxruntime-web's JSEP build) runs both
 * backends; `wasm` runs WebAssembly only, and it is half the size (14 MB against 28) and
 * reaches full speed sooner on a fresh page: the encoder's first ten frames on it took 57 ms
 * each in Chromium on 2 cores, against 196 ms on the JSEP build (then 44 ms on both).
 */
export interface WasmRuntimes {
  readonly webgpu: WasmRuntime;
  readonly wasm: WasmRuntime;
}

export type RuntimeBuild = keyof WasmRuntimes;

/** Why WebGPU cannot even be tried here, or null when it can. */
export function webgpuUnavailable(scope: object = globalThis): string | null {
  const gpu = (scope as { navigator?: { gpu?: unknown } }).navigator?.gpu;
  return gpu ? null : 'WebGPU is not available in this browser';
}

/**
 * The build a job on `choice` needs: the WebAssembly-only one where WebGPU will not be tried.
 * onnxruntime-web loads one build for the life of its worker.
 */
export function runtimeBuild(choice: BackendChoice, scope: object = globalThis): RuntimeBuild {
  return choice === 'wasm' || webgpuUnavailable(scope) !== null ? 'wasm' : 'webgpu';
}
