/**
 * Where the page finds the engine's parts once built: the worker script, the network's ONNX
 * files (copied from the Python package into the labextension's static files), the model card
 * and the division judge the card names (both small, bundled). Bundler-only
 * (`import.meta.url`), so the Node tests do not import it.
 */

import card from '../../python_stub/cellpoint/models/cap-v1.json';
import judge from '../../python_stub/cellpoint/models/judge.json';
import { EngineClient } from './client';
import { JudgeData } from './judge';
import { ModelCard } from './model';
import { ModelLocation } from './protocol';

export const MODEL: ModelLocation = {
  card: card as ModelCard,
  urls: {
    encoder: new URL('../../../python_stub/cellpoint/models/encoder.onnx', import.meta.url).href,
    tracker: new URL('../../../python_stub/cellpoint/models/tracker.onnx', import.meta.url).href,
    sisters: new URL('../../../python_stub/cellpoint/models/sisters.onnx', import.meta.url).href
  },
  // rows of five numbers, as cellpoint.engine.judge writes them
  judge: judge as unknown as JudgeData,
  // onnxruntime-web's two WebAssembly builds (runtime.ts): the bundled onnxruntime-web runs
  // either, the JSEP one where WebGPU may run.
  runtime: {
    webgpu: {
      mjs: new URL('onnxruntime-web/ort-wasm-simd-threaded.jsep.mjs', import.meta.url).href,
      wasm: new URL('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm', import.meta.url).href
    },
    wasm: {
      mjs: new URL('onnxruntime-web/ort-wasm-simd-threaded.mjs', import.meta.url).href,
      wasm: new URL('onnxruntime-web/ort-wasm-simd-threaded.wasm', import.meta.url).href
    }
  }
};

export function createEngineWorker(): Worker {
  return new Worker(new URL('./worker.js', import.meta.url), {
    type: 'module',
    name: 'cellpoint-engine'
  });
}

let client: EngineClient | null = null;

/** The page's one engine: a single worker, so the model's sessions are made once. */
export function engineClient(): EngineClient {
  client ??= new EngineClient(createEngineWorker, MODEL);
  return client;
}
