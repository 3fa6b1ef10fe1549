/**
 * @jest-environment node
 *
 * The page's side of the engine: which onnxruntime-web WebAssembly build a job needs, and the
 * fresh worker the page starts when a job needs another build or thread count than its worker
 * was set up with (onnxruntime-web loads one build, on one thread count, for a worker's life).
 */
import { EngineClient } from '../../src/engine/client';
import { ModelCard, runtimeBuild, webgpuUnavailable } from '../../src/engine';
import { FromWorker, ModelLocation, ToWorker } from '../../src/engine/protocol';
import { navigatorStub } from './navigator';

const withGpu = { navigator: { gpu: {} } };
const noGpu = { navigator: {} };

describe('the WebAssembly build a job needs', () => {
  it('is the WebAssembly-only one where WebGPU will not be tried', () => {
    expect(runtimeBuild('wasm', withGpu)).toBe('wasm');
    expect(runtimeBuild('auto', noGpu)).toBe('wasm');
    expect(runtimeBuild('webgpu', {})).toBe('wasm'); // it then fails, saying why
    expect(webgpuUnavailable(noGpu)).toBe('WebGPU is not available in this browser');
  });

  it('is the JSEP one where WebGPU is tried', () => {
    expect(runtimeBuild('auto', withGpu)).toBe('webgpu');
    expect(runtimeBuild('webgpu', withGpu)).toBe('webgpu');
    expect(webgpuUnavailable(withGpu)).toBeNull();
  });
});

/** A worker that answers every job at once, and records what it was sent. */
class FakeWorker {
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  readonly started: Extract<ToWorker, { type: 'start' }>[] = [];
  terminated = false;

  postMessage(message: ToWorker): void {
    if (message.type !== 'start') {
      return;
    }
    this.started.push(message);
    const done = { type: 'done', job: message.job, result: {} } as unknown as FromWorker;
    queueMicrotask(() => this.onmessage?.({ data: done } as MessageEvent<FromWorker>));
  }

  terminate(): void {
    this.terminated = true;
  }
}

describe('EngineClient', () => {
  const runtime = (name: string) => ({ mjs: `${name}.mjs`, wasm: `${name}.wasm` });
  const model: ModelLocation = {
    card: { name: 'test' } as ModelCard,
    urls: {},
    runtime: { webgpu: runtime('jsep'), wasm: runtime('plain') }
  };
  const source = {
    shape: [1, 16, 16] as const,
    dtype: 'uint8' as const,
    frames: async () => [new ArrayBuffer(256)]
  };
  const setNavigator = navigatorStub();
  const setGpu = (gpu: boolean): void => setNavigator(gpu ? { gpu: {} } : {});

  function client(): { engine: EngineClient; workers: FakeWorker[] } {
    const workers: FakeWorker[] = [];
    const engine = new EngineClient(() => {
      const worker = new FakeWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    }, model);
    return { engine, workers };
  }

  it('keeps its worker while jobs need the same build', async () => {
    setGpu(false);
    const { engine, workers } = client();
    await engine.track(source, { diameter: 10, backend: 'wasm' });
    await engine.track(source, { diameter: 10, backend: 'auto' });
    const [only, ...others] = workers;
    expect(others).toHaveLength(0);
    expect(only?.started).toHaveLength(2);
    expect(only?.terminated).toBe(false);
  });

  it('starts a fresh worker for a job that needs the other build', async () => {
    setGpu(true);
    const { engine, workers } = client();
    await engine.track(source, { diameter: 10, backend: 'wasm' });
    await engine.track(source, { diameter: 10, backend: 'auto' });
    await engine.track(source, { diameter: 10, backend: 'webgpu' });
    const [first, second, ...others] = workers;
    expect(others).toHaveLength(0);
    expect(first?.terminated).toBe(true);
    expect(first?.started.map(m => m.options.backend)).toEqual(['wasm']);
    expect(second?.started.map(m => m.options.backend)).toEqual(['auto', 'webgpu']);
  });
});
