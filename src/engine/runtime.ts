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
 * The two builds the engine serves. `webgpu` (onnxruntime-web's JSEP build, 28 MB) runs both
 * backends; `wasm` runs WebAssembly only, in half the bytes (14 MB). The README gives their
 * speeds.
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

/** Whether a worker that loaded `loaded` runs a job that needs `needed`: the JSEP build runs
 * WebAssembly jobs too. */
export function buildServes(loaded: RuntimeBuild, needed: RuntimeBuild): boolean {
  return loaded === needed || loaded === 'webgpu';
}
