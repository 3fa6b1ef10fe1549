/**
 * @jest-environment node
 *
 * The browser engine with the shipped network, in onnxruntime-web's WASM backend under Node,
 * against the Python reference: tests/vectors/model.json records what `cellpoint.engine.infer`
 * (ONNX Runtime on the CPU) made of a simulated crop: the encoder's outputs for the first frame,
 * the first tracker call and the final tables in input pixels.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { webcrypto } from 'crypto';

import {
  CapModel,
  CapSessions,
  EngineResult,
  FrameSource,
  Geometry,
  ModelCard,
  JudgeData,
  ModelFiles,
  cardGraphs,
  ModelIntegrityError,
  Preprocessor,
  SessionFactory,
  TrackingAbortedError,
  createOrtSession,
  sha256,
  sha256Portable,
  trackSequence,
  MAX_AUTO_THREADS,
  wasmThreads
} from '../../src/engine';
import { navigatorStub } from './navigator';
import { dec, Encoded, load, maxDiff } from './vectors';

const MODELS = join(__dirname, '..', '..', 'python_stub', 'cellpoint', 'models');
const POINT_TOLERANCE = 1e-3; // pixels, the bar for coordinates
const VALUE_TOLERANCE = 1e-4; // features, heatmaps, visibilities

interface ModelVector {
  model: string;
  sha256: Record<string, string>;
  judge_sha256: string;
  /** Divisions Python made of these frames with the sister score alone deciding splits. */
  divisions_without_judge: number;
  frames: Encoded;
  diameter: number;
  params: { window: number };
  encoder: { features: Encoded; heatmap: Encoded };
  first_window: { frames: number; queries: Encoded; points: Encoded; visibility: Encoded };
  /** The sister head's map of frames 0 and 1 (null for a model without one). */
  first_sisters: Encoded | null;
  tables: {
    tracks: Record<'track_id' | 't' | 'y' | 'x' | 'visibility', Encoded>;
    lineage: Record<'track_id' | 'start' | 'end' | 'parent_id', Encoded>;
    divisions: Record<'parent_id' | 't' | 'daughter_a' | 'daughter_b' | 'score', Encoded>;
    windows: number;
  };
}

// These tests run the shipped network in WebAssembly, some of them twice (a backend that fails,
// then WASM): 4 s alone on 2 cores, past jest's 5 s default beside the other suites. A hang guard,
// not a measure of speed.
jest.setTimeout(60_000);

const vector = load<ModelVector>('model.json');
const card = JSON.parse(readFileSync(join(MODELS, 'cap-v1.json'), 'utf8')) as ModelCard;

function modelFiles(): ModelFiles {
  const read = (file: string) => new Uint8Array(readFileSync(join(MODELS, file)));
  return {
    card,
    encoder: read('encoder.onnx'),
    tracker: read('tracker.onnx'),
    sisters: read('sisters.onnx'),
    judge: card.judge
      ? (JSON.parse(readFileSync(join(MODELS, card.judge.file), 'utf8')) as JudgeData)
      : undefined
  };
}

/** The vector's frames, served a window at a time, counting what was asked for. */
function vectorSource(): FrameSource & { requests: [number, number][] } {
  const frames = dec(vector.frames) as Uint16Array;
  const [n, height, width] = vector.frames.shape as [number, number, number];
  const requests: [number, number][] = [];
  return {
    nFrames: n,
    height,
    width,
    requests,
    frames: async (first, count) => {
      requests.push([first, count]);
      return Array.from({ length: count }, (_, i) =>
        frames.slice((first + i) * height * width, (first + i + 1) * height * width)
      );
    }
  };
}

function expectSameTables(result: EngineResult): void {
  const { tracks, lineage, divisions } = vector.tables;
  expect(Array.from(result.tracks.track_id)).toEqual(Array.from(dec(tracks.track_id)));
  expect(Array.from(result.tracks.t)).toEqual(Array.from(dec(tracks.t)));
  expect(maxDiff(result.tracks.y, dec(tracks.y))).toBeLessThan(POINT_TOLERANCE);
  expect(maxDiff(result.tracks.x, dec(tracks.x))).toBeLessThan(POINT_TOLERANCE);
  expect(maxDiff(result.tracks.visibility, dec(tracks.visibility))).toBeLessThan(VALUE_TOLERANCE);
  for (const column of ['track_id', 'start', 'end', 'parent_id'] as const) {
    expect(Array.from(result.lineage[column])).toEqual(Array.from(dec(lineage[column])));
  }
  for (const column of ['parent_id', 't', 'daughter_a', 'daughter_b'] as const) {
    expect(Array.from(result.divisions[column])).toEqual(Array.from(dec(divisions[column])));
  }
  expect(maxDiff(result.divisions.score, dec(divisions.score))).toBeLessThan(VALUE_TOLERANCE);
  expect(result.windows.length).toBe(vector.tables.windows);
}

let wasm: CapSessions;

beforeAll(async () => {
  wasm = await CapSessions.create(modelFiles(), 'wasm');
});

afterAll(async () => {
  await wasm.release();
});

test('the vector was made with the shipped model files', () => {
  // Else: run tests/python/make_vectors.py with the new model, then these tests again.
  expect(vector.model).toBe(card.name);
  expect(vector.sha256).toEqual(
    Object.fromEntries(Object.entries(card.files).map(([name, info]) => [name, info.sha256]))
  );
  expect(vector.judge_sha256).toBe(card.judge?.sha256);
});

test('the next window of frames is asked for while the one before it is encoded', async () => {
  // So that the kernel prepares and sends them while the page computes.
  const source = vectorSource();
  let encoded = 0;
  const counting: CapModel = Object.create(wasm);
  counting.encode = async (input, height, width) => {
    const out = await wasm.encode(input, height, width);
    encoded++;
    return out;
  };
  const encodedWhenAsked: number[] = [];
  const frames = source.frames;
  source.frames = async (first, count) => {
    encodedWhenAsked.push(encoded);
    return frames(first, count);
  };
  const result = await trackSequence(counting, source, {
    diameter: vector.diameter,
    params: vector.params
  });
  expectSameTables(result);
  expect(source.requests.length).toBeGreaterThan(1);
  source.requests.forEach(([first], i) => {
    if (first > 0) {
      // Without asking ahead, every frame before `first` would be encoded by then.
      expect(encodedWhenAsked[i]).toBeLessThan(first);
    }
  });
});

test('the encoder gives the reference features and heatmap', async () => {
  const [, height, width] = vector.frames.shape as [number, number, number];
  const frame = (dec(vector.frames) as Uint16Array).subarray(0, height * width);
  const geometry = Geometry.forDiameter(height, width, vector.diameter);
  const [ph, pw] = geometry.padded;
  const { features, heatmap } = await wasm.encode(new Preprocessor(geometry).run(frame), ph, pw);
  const expectedHeat = dec(vector.encoder.heatmap);
  expect([heatmap.height, heatmap.width]).toEqual(vector.encoder.heatmap.shape);
  expect(maxDiff(heatmap.data, expectedHeat)).toBeLessThan(VALUE_TOLERANCE);
  const expectedFeatures = dec(vector.encoder.features);
  const head = features.subarray(0, expectedFeatures.length);
  expect(maxDiff(head, expectedFeatures)).toBeLessThan(VALUE_TOLERANCE);
  expect(features.length).toBe(card.encoder.feature_dim * heatmap.height * heatmap.width);
});

test('the whole sequence gives the reference tables, pulling frames a window at a time', async () => {
  const source = vectorSource();
  const progress: number[] = [];
  const result = await trackSequence(wasm, source, {
    diameter: vector.diameter,
    params: vector.params,
    onProgress: p => progress.push(p.framesDone)
  });
  expectSameTables(result);
  // The division judge kept a mother whole that the sister score alone would have split.
  expect(wasm.judge).not.toBeNull();
  expect(result.divisions.parent_id.length).toBeLessThan(vector.divisions_without_judge);
  expect(result.backend).toBe('wasm');
  expect(result.fallbackReason).toBeNull();
  expect(result.model).toBe(card.name);
  // Every frame is fetched once, in windows of at most `window` frames.
  const fetched = source.requests.flatMap(([first, count]) =>
    Array.from({ length: count }, (_, i) => first + i)
  );
  expect(fetched).toEqual(Array.from({ length: source.nFrames }, (_, i) => i));
  expect(Math.max(...source.requests.map(([, count]) => count))).toBeLessThanOrEqual(
    vector.params.window
  );
  expect(progress[progress.length - 1]).toBe(source.nFrames);
  for (const stage of ['preprocess', 'encode', 'track', 'sisters', 'assemble'] as const) {
    expect(result.timings[stage]).toBeGreaterThan(0);
  }
  const [height, width] = vector.encoder.heatmap.shape as [number, number];
  const frameBytes = 4 * card.encoder.feature_dim * height * width;
  expect(result.peakFeatureBytes).toBeGreaterThanOrEqual(frameBytes);
  expect(result.peakFeatureBytes).toBeLessThanOrEqual(2 * vector.params.window * frameBytes);
});

test("frames that come as the network's inputs give the same tables", async () => {
  // What the kernel sends where those are smaller than the stack's frames: its preprocessing
  // (held to this Preprocessor by the shared vectors).
  const stack = vectorSource();
  const prep = new Preprocessor(Geometry.forDiameter(stack.height, stack.width, vector.diameter));
  const inputs: FrameSource = {
    ...stack,
    modelInputs: true,
    frames: async (first, count) => (await stack.frames(first, count)).map(f => prep.run(f))
  };
  const result = await trackSequence(wasm, inputs, {
    diameter: vector.diameter,
    params: vector.params
  });
  expectSameTables(result);
  // A frame that is no model input is refused, saying what came.
  const raw: FrameSource = { ...stack, modelInputs: true };
  await expect(
    trackSequence(wasm, raw, { diameter: vector.diameter, params: vector.params })
  ).rejects.toThrow(
    /^a model input of \d+ float32 values was expected, got \d+ values of Uint16Array$/
  );
});

test('the tracker gives the reference points for the first window', async () => {
  const [, height, width] = vector.frames.shape as [number, number, number];
  const frames = dec(vector.frames) as Uint16Array;
  const geometry = Geometry.forDiameter(height, width, vector.diameter);
  const prep = new Preprocessor(geometry);
  const [ph, pw] = geometry.padded;
  const call = vector.first_window;
  const encoded = [];
  for (let t = 0; t < call.frames; t++) {
    const frame = frames.subarray(t * height * width, (t + 1) * height * width);
    encoded.push((await wasm.encode(prep.run(frame), ph, pw)).features);
  }
  const size = (encoded[0] as Float32Array).length;
  const features = new Float32Array(call.frames * size);
  encoded.forEach((f, i) => features.set(f, i * size));
  const out = await wasm.track(
    features,
    call.frames,
    ph / 4,
    pw / 4,
    dec(call.queries) as Float32Array
  );
  expect(maxDiff(out.points, dec(call.points))).toBeLessThan(POINT_TOLERANCE);
  expect(maxDiff(out.visibility, dec(call.visibility))).toBeLessThan(VALUE_TOLERANCE);
});

test('the sister head gives the reference map for frames 0 and 1', async () => {
  expect(cardGraphs(card)).toEqual(['encoder', 'tracker', 'sisters']);
  expect(wasm.hasSisters).toBe(true);
  const [, height, width] = vector.frames.shape as [number, number, number];
  const frames = dec(vector.frames) as Uint16Array;
  const geometry = Geometry.forDiameter(height, width, vector.diameter);
  const prep = new Preprocessor(geometry);
  const [ph, pw] = geometry.padded;
  const [previous, current] = [
    (await wasm.encode(prep.run(frames.subarray(0, height * width)), ph, pw)).features,
    (await wasm.encode(prep.run(frames.subarray(height * width, 2 * height * width)), ph, pw))
      .features
  ] as [Float32Array, Float32Array];
  const map = await wasm.sisters(previous, current, ph / 4, pw / 4);
  const expected = vector.first_sisters as Encoded;
  expect([3, map.height, map.width]).toEqual(expected.shape);
  // The probability channel as values, the axis channels (model pixels) as points.
  const plane = map.height * map.width;
  const reference = dec(expected) as Float32Array;
  expect(maxDiff(map.data.subarray(0, plane), reference.subarray(0, plane))).toBeLessThan(
    VALUE_TOLERANCE
  );
  expect(maxDiff(map.data.subarray(plane), reference.subarray(plane))).toBeLessThan(
    POINT_TOLERANCE
  );
  await expect(wasm.sisters(previous, current.subarray(1), ph / 4, pw / 4)).rejects.toThrow(
    /^sister head input of/
  );
});

test('a card that lists the sister head needs its file', async () => {
  const files = { ...modelFiles(), sisters: undefined };
  await expect(CapSessions.create(files, 'wasm')).rejects.toThrow(
    `the model card ${card.name} lists sisters.onnx, but it was not loaded`
  );
});

describe('WebAssembly threads', () => {
  const runtime = { mjs: 'https://lab/ort.mjs', wasm: 'https://lab/ort.wasm' };
  const isolated = (cores?: number) => ({
    crossOriginIsolated: true,
    navigator: cores === undefined ? {} : { hardwareConcurrency: cores }
  });

  it('are one where the page has no shared memory, and say why', () => {
    const plain = wasmThreads(4, runtime, { crossOriginIsolated: false });
    expect([plain.threads, plain.crossOriginIsolated]).toEqual([1, false]);
    expect(plain.reason).toMatch(/not cross-origin isolated/);
    expect(wasmThreads(0, runtime, {}).crossOriginIsolated).toBe(false);
  });

  it('are one where the runtime is not served apart, or one is asked for', () => {
    const bundled = wasmThreads(0, undefined, isolated(4));
    expect([bundled.threads, bundled.crossOriginIsolated]).toEqual([1, true]);
    expect(bundled.reason).toMatch(/not served apart/);
    expect(wasmThreads(1, runtime, isolated(4))).toEqual({
      threads: 1,
      crossOriginIsolated: true,
      reason: 'the settings ask for one thread'
    });
  });

  it('take half the cores on an isolated page, or as many as asked for', () => {
    expect(wasmThreads(0, runtime, isolated(8))).toEqual({
      threads: 4,
      crossOriginIsolated: true,
      reason: null
    });
    expect(wasmThreads(0, runtime, isolated(2))).toEqual({
      threads: 1,
      crossOriginIsolated: true,
      reason: 'the browser reports 2 cores: the engine takes half, the page the rest'
    });
    expect(wasmThreads(0, runtime, isolated(64)).threads).toBe(MAX_AUTO_THREADS);
    expect(wasmThreads(2, runtime, isolated(4)).threads).toBe(2);
    expect(wasmThreads(3, runtime, isolated(2)).threads).toBe(2); // no more than the cores
    expect(wasmThreads(2, runtime, isolated(1))).toEqual({
      threads: 1,
      crossOriginIsolated: true,
      reason: 'the browser reports 1 core'
    });
    expect(wasmThreads(0, runtime, isolated()).threads).toBe(1); // cores unknown
  });
});

describe('backends', () => {
  const setNavigator = navigatorStub();
  const withWebGPU = (): void => setNavigator({ gpu: {} });

  test('auto falls back to WASM where WebGPU is absent, and says so', async () => {
    setNavigator(undefined);
    const model = await CapSessions.create(modelFiles(), 'auto');
    expect(model.backend).toBe('wasm');
    expect(model.fallbackReason).toBe('WebGPU is not available in this browser');
    await model.release();
  });

  test('a forced WebGPU backend that cannot start is an error with its cause', async () => {
    setNavigator(undefined);
    await expect(CapSessions.create(modelFiles(), 'webgpu')).rejects.toThrow(
      'the WebGPU backend could not start: WebGPU is not available in this browser'
    );
  });

  test('auto falls back to WASM when WebGPU fails at session creation', async () => {
    withWebGPU(); // navigator.gpu is there, but onnxruntime's WebGPU backend is not (Node)
    const model = await CapSessions.create(modelFiles(), 'auto');
    expect(model.backend).toBe('wasm');
    expect(model.fallbackReason).toMatch(/^WebGPU failed to start \(.+\)$/);
    await model.release();
  });

  test('a WebGPU failure while running moves the job to WASM with the same answers', async () => {
    withWebGPU();
    // WebGPU sessions that start but fail at their first run, as a lost GPU device does.
    const failingGpu: SessionFactory = async (graph, backend) => {
      const session = await createOrtSession(graph, 'wasm');
      if (backend === 'wasm') {
        return session;
      }
      return {
        run: async () => {
          throw new Error('GPU device lost');
        },
        release: () => session.release()
      };
    };
    const model = await CapSessions.create(modelFiles(), 'auto', failingGpu);
    expect(model.backend).toBe('webgpu');
    const result = await trackSequence(model, vectorSource(), {
      diameter: vector.diameter,
      params: vector.params
    });
    expect(result.backend).toBe('wasm');
    expect(result.fallbackReason).toBe('WebGPU failed while running the encoder (GPU device lost)');
    expectSameTables(result);
    await model.release();
  });

  test('unknown backends are refused', async () => {
    await expect(CapSessions.create(modelFiles(), 'webgl' as unknown as 'wasm')).rejects.toThrow(
      'backend must be one of auto, webgpu, wasm, got webgl'
    );
  });
});

test('a model file that does not match the card is refused before any session is made', async () => {
  const files = modelFiles();
  const tracker = files.tracker.slice();
  tracker[tracker.length - 1] = (tracker[tracker.length - 1] as number) ^ 1;
  const made: string[] = [];
  const factory: SessionFactory = async (graph, backend) => {
    made.push(backend);
    return createOrtSession(graph, backend);
  };
  const attempt = CapSessions.create({ ...files, tracker }, 'wasm', factory);
  await expect(attempt).rejects.toBeInstanceOf(ModelIntegrityError);
  await expect(attempt).rejects.toThrow(/^tracker.onnx does not match the model card \(sha256 /);
  expect(made).toEqual([]);
});

test('a card whose features are laid out otherwise is refused before any session is made', async () => {
  const files = modelFiles();
  const channelFirst = { ...files.card.encoder, feature_layout: undefined };
  const made: string[] = [];
  const factory: SessionFactory = async (graph, backend) => {
    made.push(backend);
    return createOrtSession(graph, backend);
  };
  const card = { ...files.card, encoder: channelFirst };
  await expect(CapSessions.create({ ...files, card }, 'wasm', factory)).rejects.toThrow(
    'hands features over as channel-first, this cellpoint reads them channel-last'
  );
  expect(made).toEqual([]);
});

test('cancelling keeps the tables of the frames done', async () => {
  const controller = new AbortController();
  const source = vectorSource();
  const attempt = trackSequence(wasm, source, {
    diameter: vector.diameter,
    params: vector.params,
    signal: controller.signal,
    onProgress: p => {
      if (p.framesDone === 3) {
        controller.abort('user stop');
      }
    }
  });
  const error = (await attempt.catch(e => e)) as TrackingAbortedError;
  expect(error).toBeInstanceOf(TrackingAbortedError);
  expect(error.reason).toBe('user stop');
  expect(error.framesDone).toBeGreaterThanOrEqual(3);
  expect(error.framesDone).toBeLessThan(source.nFrames);
  const partial = error.partial.tracks;
  expect(partial.t.length).toBeGreaterThan(0);
  expect(Math.max(...partial.t)).toBeLessThan(error.framesDone);
  // The partial tracks are the full run's, cut at the frames done.
  const fullT = dec(vector.tables.tracks.t);
  const fullId = dec(vector.tables.tracks.track_id);
  const kept = Array.from(fullT.keys()).filter(i => (fullT[i] as number) < error.framesDone);
  expect(Array.from(partial.track_id)).toEqual(kept.map(i => fullId[i]));
});

test('the portable SHA-256 agrees with Web Crypto', async () => {
  const subtle = webcrypto.subtle;
  const hex = async (bytes: Uint8Array): Promise<string> =>
    Buffer.from(await subtle.digest('SHA-256', bytes)).toString('hex');
  expect(sha256Portable(new TextEncoder().encode('abc'))).toBe(
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
  );
  for (const n of [0, 1, 55, 56, 63, 64, 65, 1000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
    expect(sha256Portable(bytes)).toBe(await hex(bytes));
  }
  const encoder = modelFiles().encoder;
  expect(sha256Portable(encoder)).toBe(card.files['encoder.onnx']?.sha256);
  expect(await sha256(encoder)).toBe(card.files['encoder.onnx']?.sha256);
});
