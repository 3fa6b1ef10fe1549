/**
 * Frames in, the result's tables out (schema/tables.schema.json): the browser's twin of `cellpoint.engine.infer.track_kernel`.
 *
 * Frames are pulled from a `FrameSource` a window at a time (the kernel streams them over the
 * comm), preprocessed, encoded once each, and dropped; RAW then reads the cached features of
 * the frames its windows span. The next window's frames are asked for as soon as a window's
 * arrive, so that the kernel prepares and sends them while this page encodes and tracks. RAW
 * only moves forward, so features before the current window are released: what is held is at
 * most two windows of features (the window being tracked and the frames pulled ahead with its
 * last frame) and one window of frames in flight, whatever the sequence's length.
 */

import { CapModel, setUpWasm } from './model';
import { WasmThreads } from './threads';
import { HISTORY, ModelFrame } from './judge';
import type { FrameData } from '../frame-dtypes';
import { Geometry, Polarity, Preprocessor } from './preprocess';
import {
  RawAbortError,
  RawCheckpoint,
  RawParams,
  RawResult,
  RawRun,
  RawWindow,
  rawInference,
  rawParams
} from './raw';

/** Where frames come from: numpy's bytes as typed arrays, `[height * width]` each. */
export interface FrameSource {
  readonly nFrames: number;
  readonly height: number;
  readonly width: number;
  /**
   * The frames come as the network's inputs, prepared by the kernel's twin of `Preprocessor`
   * (normalised, resized, zero-padded: float32 `[padded height * padded width]`), where those
   * are smaller than the stack's own: the kernel sends them so.
   */
  readonly modelInputs?: boolean;
  /** Frames `first .. first + count - 1`. */
  frames(first: number, count: number, signal?: AbortSignal): Promise<FrameData[]>;
}

/** The tracks table in input pixels, sorted by (track_id, t). */
export interface TracksTable {
  readonly track_id: Int32Array;
  readonly t: Int32Array;
  readonly y: Float64Array;
  readonly x: Float64Array;
  readonly visibility: Float32Array;
}

export interface LineageTable {
  readonly track_id: Int32Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly parent_id: Int32Array;
}

export type DivisionStatus = 'proposed' | 'accepted' | 'rejected';

/** One row per division, sorted by (t, parent_id); every status `proposed` as the engine finds them. */
export interface DivisionsTable {
  readonly parent_id: Int32Array;
  readonly t: Int32Array;
  readonly daughter_a: Int32Array;
  readonly daughter_b: Int32Array;
  readonly score: Float64Array;
  readonly status: readonly DivisionStatus[];
}

export interface TrackingTables {
  readonly tracks: TracksTable;
  readonly lineage: LineageTable;
  readonly divisions: DivisionsTable;
}

/** Seconds spent in each stage. */
export interface StageTimings {
  /** Starting the engine for this run: fetching the runtime and the model and making the
   * sessions (the worker's, which keeps them: 0 on a warm worker). Not part of `total`. */
  start: number;
  preprocess: number;
  encode: number;
  track: number;
  sisters: number;
  assemble: number;
  total: number;
}

/**
 * A run's tables in input pixels, with the divisions as RAW called them; a notebook's result
 * is these after the kernel's lineage step (cellpoint.engine.lineage), which times each
 * division by the `sisters` evidence in `raw`.
 */
export interface EngineResult extends TrackingTables {
  /** RAW's own tables, in model pixels: what a checkpoint holds and a resumed run goes on from. */
  readonly raw: RawResult;
  readonly backend: string;
  readonly fallbackReason: string | null;
  readonly model: string;
  /** RAW's parameters as this run used them: the job's, the rest RAW's defaults. */
  readonly params: RawParams;
  readonly windows: readonly RawWindow[];
  readonly timings: StageTimings;
  /** The most bytes of encoded features held at once. */
  readonly peakFeatureBytes: number;
  /** The most tracks RAW held as objects at once (the others were finished rows). */
  readonly peakHeldTracks: number;
  /** The WebAssembly threads the run had. */
  readonly threads: WasmThreads;
}

export interface EngineProgress {
  readonly framesDone: number;
  readonly nFrames: number;
  readonly cells: number;
  readonly backend: string;
  readonly seconds: number;
}

export interface TrackOptions {
  /** Cell diameter in input pixels. */
  readonly diameter: number;
  /** Whether cells are brighter or darker than the background; 'bright' when not given. */
  readonly polarity?: Polarity;
  readonly params?: Partial<RawParams>;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EngineProgress) => void;
  /**
   * Before each window: where the run stands (model pixels), to resume from after a failure,
   * built only if asked before the call returns.
   */
  readonly onCheckpoint?: (checkpoint: () => RawCheckpoint) => void;
  /** A checkpoint of an earlier run of these frames with the same network and params. */
  readonly resume?: RawCheckpoint;
}

/** The job was cancelled (or its frames stopped coming); `partial` has the frames done. */
export class TrackingAbortedError extends Error {
  constructor(
    readonly partial: EngineResult,
    readonly framesDone: number,
    readonly reason: unknown
  ) {
    super(`tracking was cancelled after ${framesDone} of the sequence's frames`);
    this.name = 'AbortError';
  }
}

const now = (): number => performance.now() / 1000;

/** Encoded frames of one sequence, pulled and encoded a window at a time. */
class FeatureCache {
  private readonly entries = new Map<number, { features: Float32Array; heatmap: Float32Array }>();
  /** Preprocessed frames, kept HISTORY frames longer than features for the division judge. */
  private readonly modelFrames = new Map<number, Float32Array>();
  /** The next block of frames, asked for while the block before it is encoded. */
  private ahead: { first: number; count: number; frames: Promise<FrameData[]> } | null = null;
  readonly height: number;
  readonly width: number;
  peakBytes = 0;

  constructor(
    private readonly source: FrameSource,
    private readonly prep: Preprocessor,
    private readonly model: CapModel,
    private readonly blockFrames: number,
    private readonly timings: StageTimings,
    private readonly keepFrames: boolean,
    private readonly signal?: AbortSignal
  ) {
    const stride = model.card.encoder.stride;
    this.height = prep.geometry.padded[0] / stride;
    this.width = prep.geometry.padded[1] / stride;
  }

  async get(t: number): Promise<{ features: Float32Array; heatmap: Float32Array }> {
    let entry = this.entries.get(t);
    if (!entry) {
      await this.encode(t, Math.min(this.blockFrames, this.source.nFrames - t));
      entry = this.entries.get(t) as { features: Float32Array; heatmap: Float32Array };
    }
    return entry;
  }

  forgetBefore(t: number): void {
    for (const key of [...this.entries.keys()]) {
      if (key < t) {
        this.entries.delete(key);
      }
    }
    for (const key of [...this.modelFrames.keys()]) {
      if (key < t - HISTORY) {
        this.modelFrames.delete(key);
      }
    }
  }

  /** Frame t preprocessed (pulled again if it is no longer held, as after a resume). */
  async modelFrame(t: number): Promise<ModelFrame> {
    const [height, width] = this.prep.geometry.padded;
    let data = this.modelFrames.get(t);
    if (!data) {
      const [frame] = await this.source.frames(t, 1, this.signal);
      data = new Float32Array(height * width);
      const t0 = now();
      this.toModel(frame as FrameData, data);
      this.timings.preprocess += now() - t0;
      this.modelFrames.set(t, data);
    }
    return { data, height, width };
  }

  private async encode(first: number, count: number): Promise<void> {
    const frames = await this.pullFrames(first, count);
    this.askAhead(first + count);
    if (frames.length !== count) {
      throw new Error(`asked for ${count} frames from ${first}, got ${frames.length}`);
    }
    const [ph, pw] = this.prep.geometry.padded;
    let input = new Float32Array(ph * pw);
    for (let i = 0; i < count; i++) {
      if (this.keepFrames) {
        input = new Float32Array(ph * pw);
        this.modelFrames.set(first + i, input);
      }
      const t0 = now();
      this.toModel(frames[i] as FrameData, input);
      const t1 = now();
      const { features, heatmap } = await this.model.encode(input, ph, pw);
      this.timings.preprocess += t1 - t0;
      this.timings.encode += now() - t1;
      this.entries.set(first + i, { features, heatmap: heatmap.data });
      frames[i] = new Uint8Array(0); // the frame itself is no longer needed
      const bytes = [...this.entries.values()].reduce((s, e) => s + e.features.byteLength, 0);
      this.peakBytes = Math.max(this.peakBytes, bytes);
    }
  }

  /** Frames `first ..`: those asked for ahead where they are the ones wanted, else asked now. */
  private pullFrames(first: number, count: number): Promise<FrameData[]> {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead && ahead.first === first && ahead.count === count) {
      return ahead.frames;
    }
    return this.source.frames(first, count, this.signal);
  }

  /** Asks for the block of frames from `first` now, to be awaited when it is encoded. */
  private askAhead(first: number): void {
    const count = Math.min(this.blockFrames, this.source.nFrames - first);
    if (count <= 0) {
      return;
    }
    const frames = this.source.frames(first, count, this.signal);
    frames.catch(() => undefined); // its failure is thrown where the block is awaited
    this.ahead = { first, count, frames };
  }

  /** A frame as the network's input, into `out`: preprocessed here, or as the kernel sent it. */
  private toModel(frame: FrameData, out: Float32Array): void {
    if (!this.source.modelInputs) {
      this.prep.run(frame, out);
      return;
    }
    if (!(frame instanceof Float32Array) || frame.length !== out.length) {
      throw new Error(
        `a model input of ${out.length} float32 values was expected, ` +
          `got ${frame.length} values of ${frame.constructor.name}`
      );
    }
    out.set(frame);
  }
}

/** Tracks every cell of `source`'s frames with `model`; tables in input pixels. */
export async function trackSequence(
  model: CapModel,
  source: FrameSource,
  options: TrackOptions
): Promise<EngineResult> {
  const { nFrames, height, width } = source;
  if (!(Number.isInteger(nFrames) && nFrames >= 2)) {
    throw new RangeError(`tracking needs at least 2 frames, got ${nFrames}`);
  }
  const params = rawParams(options.params);
  const geometry = Geometry.forDiameter(height, width, options.diameter);
  const timings: StageTimings = {
    start: 0,
    preprocess: 0,
    encode: 0,
    track: 0,
    sisters: 0,
    assemble: 0,
    total: 0
  };
  const start = now();
  const { signal } = options;
  const judging = model.hasSisters && model.judge !== null;
  const prep = new Preprocessor(geometry, options.polarity);
  const cache = new FeatureCache(source, prep, model, params.window, timings, judging, signal);
  const channels = model.card.encoder.feature_dim;
  const frameSize = channels * cache.height * cache.width;

  const heatmap = async (t: number) => {
    // RAW asks for frame t's heatmap once every window it needs starts at or after t, and
    // after frame t's sister map.
    cache.forgetBefore(t);
    const { heatmap: data } = await cache.get(t);
    return { data, height: cache.height, width: cache.width };
  };
  const trackWindow = async (first: number, length: number, queries: Float32Array) => {
    cache.forgetBefore(first);
    const features = new Float32Array(length * frameSize);
    for (let i = 0; i < length; i++) {
      features.set((await cache.get(first + i)).features, i * frameSize);
    }
    const t0 = now();
    const out = await model.track(features, length, cache.height, cache.width, queries);
    timings.track += now() - t0;
    return out;
  };
  const sisters = async (t: number) => {
    const previous = (await cache.get(t - 1)).features;
    const current = (await cache.get(t)).features;
    const t0 = now();
    const out = await model.sisters(previous, current, cache.height, cache.width);
    timings.sisters += now() - t0;
    return out;
  };
  const finish = ({ peakHeldTracks, ...raw }: RawRun): EngineResult => {
    const t0 = now();
    const tables = assemble(raw, geometry);
    timings.assemble = now() - t0;
    timings.total = now() - start;
    return {
      ...tables,
      raw,
      backend: model.backend,
      fallbackReason: model.fallbackReason,
      model: model.card.name,
      params,
      windows: raw.windows,
      timings,
      peakFeatureBytes: cache.peakBytes,
      threads: setUpWasm(), // what this worker set up when its first sessions were made
      peakHeldTracks
    };
  };
  try {
    const raw = await rawInference(nFrames, heatmap, trackWindow, params, {
      signal,
      onCheckpoint: options.onCheckpoint,
      resume: options.resume,
      sisters: model.hasSisters ? sisters : undefined,
      frames: judging ? (t: number) => cache.modelFrame(t) : undefined,
      judge: judging ? (model.judge ?? undefined) : undefined,
      onProgress: (framesDone, cells) =>
        options.onProgress?.({
          framesDone,
          nFrames,
          cells,
          backend: model.backend,
          seconds: now() - start
        })
    });
    return finish(raw);
  } catch (error) {
    if (error instanceof RawAbortError) {
      throw new TrackingAbortedError(finish(error.partial), error.framesDone, error.reason);
    }
    throw error;
  }
}

/** RAW's tables in model pixels -> the result's in input pixels (as Python's `to_result`). */
export function assemble(raw: RawResult, geometry: Geometry): TrackingTables {
  const { tracks, lineage, divisions } = raw;
  const { y, x } = geometry.toInputColumns(tracks.y, tracks.x);
  // Points may drift into the padding; they still belong to the frame's edge.
  const clip = (v: Float64Array, hi: number): Float64Array =>
    v.map(value => Math.min(Math.max(value, 0), hi));
  // RAW makes tracks in id order and each track's rows in time order: already sorted.
  // Divisions in the tables' order: by (t, parent_id).
  const { t: dt, parent_id: dp } = divisions;
  const order = Array.from(dp.keys()).sort(
    (a, b) => (dt[a] as number) - (dt[b] as number) || (dp[a] as number) - (dp[b] as number)
  );
  const pick = <A extends Int32Array | Float64Array>(column: A): A =>
    column.map((_, i) => column[order[i] as number] as number) as A;
  return {
    tracks: {
      track_id: tracks.track_id,
      t: tracks.t,
      y: clip(y, geometry.height - 1),
      x: clip(x, geometry.width - 1),
      visibility: tracks.visibility
    },
    lineage,
    divisions: {
      parent_id: pick(divisions.parent_id),
      t: pick(divisions.t),
      daughter_a: pick(divisions.daughter_a),
      daughter_b: pick(divisions.daughter_b),
      score: pick(divisions.score),
      status: order.map(() => 'proposed')
    }
  };
}
