/**
 * @jest-environment node
 *
 * The page's side of the engine: which onnxruntime-web WebAssembly build a job needs, and the
 * fresh worker the page starts when a job needs a build or thread count its worker cannot give
 * (onnxruntime-web loads one build, on one thread count, for a worker's life).
 */
import { ClientJobOptions, EngineClient } from '../../src/engine/client';
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

/** A worker that records what it was sent and answers each job when `finish` says. */
class FakeWorker {
  onmessage: ((event: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  readonly started: Extract<ToWorker, { type: 'start' }>[] = [];
  terminated = false;

  postMessage(message: ToWorker): void {
    if (message.type === 'start') {
      this.started.push(message);
    }
  }

  /** Ends every job started so far. */
  finish(): void {
    for (const { job } of this.started) {
      const done = { type: 'done', job, result: {} } as unknown as FromWorker;
      this.onmessage?.({ data: done } as MessageEvent<FromWorker>);
    }
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

  function client(): {
    engine: EngineClient;
    workers: FakeWorker[];
    run: (options: ClientJobOptions) => Promise<void>;
  } {
    const workers: FakeWorker[] = [];
    const engine = new EngineClient(() => {
      const worker = new FakeWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    }, model);
    // One job, answered as soon as it reached a worker.
    const run = async (options: ClientJobOptions): Promise<void> => {
      const done = engine.track(source, options);
      await flush();
      workers.forEach(w => w.finish());
      await done;
    };
    return { engine, workers, run };
  }
  const flush = () => new Promise(resolve => setTimeout(resolve, 0));
  const backends = (worker: FakeWorker | undefined) =>
    worker?.started.map(m => [m.options.backend, m.build]);

  it('keeps its worker while its build runs the jobs', async () => {
    setGpu(false);
    const { workers, run } = client();
    await run({ diameter: 10, backend: 'wasm' });
    await run({ diameter: 10, backend: 'auto' });
    const [only, ...others] = workers;
    expect(others).toHaveLength(0);
    expect(backends(only)).toEqual([
      ['wasm', 'wasm'],
      ['auto', 'wasm']
    ]);
    expect(only?.terminated).toBe(false);
  });

  it('runs WebAssembly jobs on a worker that loaded the JSEP build', async () => {
    setGpu(true);
    const { workers, run } = client();
    await run({ diameter: 10, backend: 'auto' });
    await run({ diameter: 10, backend: 'wasm' });
    expect(workers).toHaveLength(1);
    expect(backends(workers[0])).toEqual([
      ['auto', 'webgpu'],
      ['wasm', 'webgpu']
    ]);
  });

  it('starts a fresh worker for a job that needs the JSEP build', async () => {
    setGpu(true);
    const { workers, run } = client();
    await run({ diameter: 10, backend: 'wasm' });
    await run({ diameter: 10, backend: 'webgpu' });
    const [first, second, ...others] = workers;
    expect(others).toHaveLength(0);
    expect(first?.terminated).toBe(true);
    expect(backends(first)).toEqual([['wasm', 'wasm']]);
    expect(backends(second)).toEqual([['webgpu', 'webgpu']]);
  });

  it('starts such a job once the jobs running on the other build have ended', async () => {
    setGpu(true);
    const { engine, workers } = client();
    const running = engine.track(source, { diameter: 10, backend: 'wasm' });
    const waiting = engine.track(source, { diameter: 10, backend: 'auto' });
    await flush();
    expect(workers).toHaveLength(1);
    expect(backends(workers[0])).toEqual([['wasm', 'wasm']]);
    workers[0]?.finish();
    await running;
    await flush();
    expect(workers).toHaveLength(2);
    expect(workers[0]?.terminated).toBe(true);
    expect(backends(workers[1])).toEqual([['auto', 'webgpu']]);
    workers[1]?.finish();
    await waiting;
  });

  it('starts a fresh worker for another thread count', async () => {
    const scope = globalThis as { crossOriginIsolated?: boolean };
    const isolated = scope.crossOriginIsolated;
    scope.crossOriginIsolated = true;
    setNavigator({ hardwareConcurrency: 4 });
    try {
      const { workers, run } = client();
      await run({ diameter: 10, backend: 'wasm', threads: 1 });
      await run({ diameter: 10, backend: 'wasm', threads: 1 });
      await run({ diameter: 10, backend: 'wasm', threads: 2 });
      expect(workers.map(w => w.started.length)).toEqual([2, 1]);
      expect(workers[0]?.terminated).toBe(true);
    } finally {
      scope.crossOriginIsolated = isolated;
    }
  });
});
