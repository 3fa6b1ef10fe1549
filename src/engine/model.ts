/**
 * The CAP network in onnxruntime-web: the browser's twin of `cellpoint.engine.infer.OnnxCap`.
 *
 * The sessions of the two graphs (docs/architecture.md, "The model"), `encoder.onnx` (a frame -> stride-4 features and the
 * cell-centre heatmap) and `tracker.onnx` (a window of features and query points -> points and
 * visibilities of each cell and its two daughter slots), and of `sisters.onnx` where the card
 * lists it (the features of two consecutive frames -> the sister map). The files are checked
 * against the model card's SHA-256 before a session is made of them.
 *
 * Backends: WebGPU first and WASM when WebGPU is absent, fails when the sessions are created, or
 * fails while running (then the call is run again on WASM and the rest of the job stays there).
 * The backend in use, and why it is not the first choice, are reported with the results.
 */

import * as ort from 'onnxruntime-web';

import { JudgeData, PairJudge, treeJudge } from './judge';
import { WasmRuntime, webgpuUnavailable } from './runtime';
import { WasmThreads, wasmThreads } from './threads';
import { Heatmap, SisterMap } from './peaks';
import { WindowOutput } from './raw';
import { sha256 } from './sha256';

export type Backend = 'webgpu' | 'wasm';
/** What the settings ask for: `auto` tries WebGPU and falls back to WASM. */
export type BackendChoice = 'auto' | Backend;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm'];

/** The parts of `models/cap-v1.json` the engine reads. */
export interface ModelCard {
  readonly name: string;
  readonly files: { readonly [file: string]: { readonly sha256: string; readonly bytes: number } };
  readonly encoder: {
    readonly stride: number;
    readonly feature_dim: number;
    /** How features go between the graphs: `channel-last`, `[h * w * C]` a frame. */
    readonly feature_layout?: string;
  };
  /** The division judge's file (`judge.json`), where the model ships one. */
  readonly judge?: { readonly file: string; readonly sha256: string; readonly bytes: number };
}

export type Graph = 'encoder' | 'tracker' | 'sisters';
const GRAPHS: readonly Graph[] = ['encoder', 'tracker', 'sisters'];

/** The file of a graph, as the card names it. */
export function graphFile(graph: Graph): string {
  return `${graph}.onnx`;
}

/** The graphs' bytes with the card that describes them (`sisters` where the card lists it). */
export interface ModelFiles {
  readonly card: ModelCard;
  readonly encoder: Uint8Array;
  readonly tracker: Uint8Array;
  readonly sisters?: Uint8Array;
  /** The division judge (`judge.json`), where the card lists one. */
  readonly judge?: JudgeData;
}

/** The graphs a card asks for: the encoder, the tracker, and the sister head if it lists one. */
export function cardGraphs(card: ModelCard): Graph[] {
  return GRAPHS.filter(graph => graph !== 'sisters' || graphFile(graph) in card.files);
}

/** A model file that is not the one its card names (a broken install or a stale cache). */
export class ModelIntegrityError extends Error {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string
  ) {
    super(
      `${file} does not match the model card (sha256 ${actual.slice(0, 12)}..., the card says ${expected.slice(0, 12)}...): ` +
        'reinstall cellpoint, then reload the page'
    );
    this.name = 'ModelIntegrityError';
  }
}

/** How this engine hands features between the graphs (the card's `encoder.feature_layout`). */
export const FEATURE_LAYOUT = 'channel-last';

/**
 * Throws unless the card's features are laid out as this engine reads them, and
 * `ModelIntegrityError` unless every file hashes to the card's digest.
 */
export async function checkModelFiles(files: ModelFiles): Promise<void> {
  const layout = files.card.encoder.feature_layout;
  if (layout !== FEATURE_LAYOUT) {
    throw new Error(
      `the model ${files.card.name} hands features over as ${layout ?? 'channel-first'}, ` +
        `this cellpoint reads them ${FEATURE_LAYOUT}: reinstall cellpoint, then reload the page`
    );
  }
  for (const graph of cardGraphs(files.card)) {
    const file = graphFile(graph);
    const bytes = files[graph];
    const expected = files.card.files[file]?.sha256;
    if (!expected) {
      throw new Error(`the model card ${files.card.name} lists no ${file}`);
    }
    if (!bytes) {
      throw new Error(`the model card ${files.card.name} lists ${file}, but it was not loaded`);
    }
    const actual = await sha256(bytes);
    if (actual !== expected) {
      throw new ModelIntegrityError(file, expected, actual);
    }
  }
}

/** One frame through the encoder. */
export interface EncodedFrame {
  /** `[h * w * C]` (channel-last), C = the card's feature_dim, (h, w) = the input size / stride. */
  readonly features: Float32Array;
  readonly heatmap: Heatmap;
}

/** What RAW needs of the network; `CapSessions` is it in onnxruntime-web. */
export interface CapModel {
  readonly card: ModelCard;
  /** The backend the next call runs on. */
  readonly backend: Backend;
  /** Why the backend is not the first choice (`null` when it is). */
  readonly fallbackReason: string | null;
  /** A preprocessed frame `[height * width]` (multiples of 16). */
  encode(input: Float32Array, height: number, width: number): Promise<EncodedFrame>;
  /** `features` `[frames * h * w * C]`, `queries` `[N * 3]` rows (t, x, y) in model pixels. */
  track(
    features: Float32Array,
    frames: number,
    height: number,
    width: number,
    queries: Float32Array
  ): Promise<WindowOutput>;
  /** Whether `sisters` works: the card lists a sister head. */
  readonly hasSisters: boolean;
  /** The division judge, where the model ships one (judge.ts). */
  readonly judge: PairJudge | null;
  /** Features `[h * w * C]` of frames t - 1 and t -> the sister map `[3 * h * w]`. */
  sisters(
    previous: Float32Array,
    current: Float32Array,
    height: number,
    width: number
  ): Promise<SisterMap>;
  release(): Promise<void>;
}

/** The subset of `ort.InferenceSession` used here. */
export interface Session {
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** Makes a session of a graph on a backend: onnxruntime-web's, or a test's. */
export type SessionFactory = (graph: Uint8Array, backend: Backend) => Promise<Session>;

let wasmSetUp: WasmThreads | null = null;

/**
 * Sets onnxruntime-web's WebAssembly up for this worker: its build (`runtime`, where the page
 * serves them apart) and threads; says on how many threads it runs. onnxruntime reads these
 * once, when it first starts, so the first call decides; a later call that wants another count
 * or build gets what the first set (the page starts a new worker for that).
 */
export function setUpWasm(wanted = 0, runtime?: WasmRuntime): WasmThreads {
  if (!wasmSetUp) {
    wasmSetUp = wasmThreads(wanted, runtime);
    ort.env.wasm.numThreads = wasmSetUp.threads;
    if (runtime) {
      ort.env.wasm.wasmPaths = { mjs: runtime.mjs, wasm: runtime.wasm };
    }
  }
  return wasmSetUp;
}

/** onnxruntime-web's sessions, on the threads `setUpWasm` set (one where it was not called). */
export const createOrtSession: SessionFactory = async (graph, backend) => {
  setUpWasm();
  return ort.InferenceSession.create(graph, {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
    // A memory pattern is planned and kept for every input shape, and the tracker sees a new
    // (frames, cells) shape nearly every window: WebAssembly memory only grows, so they would
    // hold megabytes more each window (as in the kernel, cellpoint.engine.infer).
    enableMemPattern: false
  });
};

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The graphs' sessions on one backend, with the fallback to WASM. */
export class CapSessions implements CapModel {
  private sessions: Map<Graph, Session>;
  private current: Backend;
  private reason: string | null;
  readonly judge: PairJudge | null;

  private constructor(
    private readonly files: ModelFiles,
    private readonly choice: BackendChoice,
    private readonly factory: SessionFactory,
    sessions: Map<Graph, Session>,
    backend: Backend,
    reason: string | null
  ) {
    this.sessions = sessions;
    this.current = backend;
    this.reason = reason;
    this.judge = files.judge ? treeJudge(files.judge) : null;
  }

  /**
   * Checks the files, then makes the sessions: on WebGPU for `auto` and `webgpu`, falling back
   * to WASM for `auto` only (a forced backend that fails is an error, with its cause).
   */
  static async create(
    files: ModelFiles,
    choice: BackendChoice = 'auto',
    factory: SessionFactory = createOrtSession
  ): Promise<CapSessions> {
    if (!BACKEND_CHOICES.includes(choice)) {
      throw new Error(`backend must be one of ${BACKEND_CHOICES.join(', ')}, got ${choice}`);
    }
    await checkModelFiles(files);
    const open = (backend: Backend) => openSessions(files, backend, factory);
    let reason: string | null = null;
    if (choice !== 'wasm') {
      const unavailable = webgpuUnavailable();
      try {
        if (unavailable) {
          throw new Error(unavailable);
        }
        const sessions = await open('webgpu');
        return new CapSessions(files, choice, factory, sessions, 'webgpu', null);
      } catch (error) {
        if (choice === 'webgpu') {
          throw new Error(`the WebGPU backend could not start: ${message(error)}`);
        }
        reason = unavailable ?? `WebGPU failed to start (${message(error)})`;
      }
    }
    return new CapSessions(files, choice, factory, await open('wasm'), 'wasm', reason);
  }

  get card(): ModelCard {
    return this.files.card;
  }

  get backend(): Backend {
    return this.current;
  }

  get fallbackReason(): string | null {
    return this.reason;
  }

  get hasSisters(): boolean {
    return this.sessions.has('sisters');
  }

  async encode(input: Float32Array, height: number, width: number): Promise<EncodedFrame> {
    if (input.length !== height * width) {
      throw new Error(`encoder input of ${input.length} values for ${height} x ${width}`);
    }
    const out = await this.run('encoder', {
      frames: new ort.Tensor('float32', input, [1, 1, height, width])
    });
    const heatmap = out.heatmap as ort.Tensor;
    const [, , h, w] = heatmap.dims as [number, number, number, number];
    return {
      features: (out.features as ort.Tensor).data as Float32Array,
      heatmap: { data: heatmap.data as Float32Array, height: h, width: w }
    };
  }

  async track(
    features: Float32Array,
    frames: number,
    height: number,
    width: number,
    queries: Float32Array
  ): Promise<WindowOutput> {
    const channels = this.card.encoder.feature_dim;
    if (features.length !== frames * channels * height * width || queries.length % 3 !== 0) {
      throw new Error(
        `tracker input of ${features.length} feature values and ${queries.length} query ` +
          `values for ${frames} frames of ${height} x ${width} x ${channels}`
      );
    }
    const out = await this.run('tracker', {
      features: new ort.Tensor('float32', features, [1, frames, height, width, channels]),
      queries: new ort.Tensor('float32', queries, [1, queries.length / 3, 3])
    });
    return {
      points: (out.points as ort.Tensor).data as Float32Array,
      visibility: (out.visibility as ort.Tensor).data as Float32Array
    };
  }

  async sisters(
    previous: Float32Array,
    current: Float32Array,
    height: number,
    width: number
  ): Promise<SisterMap> {
    const channels = this.card.encoder.feature_dim;
    const size = channels * height * width;
    if (previous.length !== size || current.length !== size) {
      throw new Error(
        `sister head input of ${previous.length} and ${current.length} values for ` +
          `${height} x ${width} x ${channels}`
      );
    }
    const dims = [1, height, width, channels];
    const out = await this.run('sisters', {
      previous: new ort.Tensor('float32', previous, dims),
      current: new ort.Tensor('float32', current, dims)
    });
    return { data: (out.sisters as ort.Tensor).data as Float32Array, height, width };
  }

  async release(): Promise<void> {
    await Promise.all([...this.sessions.values()].map(s => s.release()));
  }

  /** Runs a graph; a WebGPU failure under `auto` moves every graph to WASM and runs it again. */
  private async run(
    graph: Graph,
    feeds: Record<string, ort.Tensor>
  ): Promise<Record<string, ort.Tensor>> {
    const session = (): Session => {
      const found = this.sessions.get(graph);
      if (!found) {
        throw new Error(`the model ${this.card.name} has no ${graphFile(graph)}`);
      }
      return found;
    };
    try {
      return await session().run(feeds);
    } catch (error) {
      if (this.current !== 'webgpu' || this.choice !== 'auto' || !this.sessions.has(graph)) {
        throw error;
      }
      const old = [...this.sessions.values()];
      this.sessions = await openSessions(this.files, 'wasm', this.factory);
      this.current = 'wasm';
      this.reason = `WebGPU failed while running the ${graph} (${message(error)})`;
      await Promise.allSettled(old.map(s => s.release()));
      return session().run(feeds);
    }
  }
}

/** A session of every graph the card lists, on one backend; none is left open on failure. */
async function openSessions(
  files: ModelFiles,
  backend: Backend,
  factory: SessionFactory
): Promise<Map<Graph, Session>> {
  const sessions = new Map<Graph, Session>();
  try {
    for (const graph of cardGraphs(files.card)) {
      sessions.set(graph, await factory(files[graph] as Uint8Array, backend));
    }
    return sessions;
  } catch (error) {
    await Promise.allSettled([...sessions.values()].map(s => s.release()));
    throw error;
  }
}
