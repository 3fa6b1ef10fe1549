/**
 * The messages between the page and the engine's Web Worker. Every message names its job. The
 * worker pulls frames (`need-frames`), so it never holds more than the windows it is working
 * on; results and partial results come back as typed arrays.
 */

import type { FrameDtype } from '../frame-dtypes';
import { BackendChoice, Graph, ModelCard } from './model';
import { RuntimeBuild, WasmRuntimes } from './runtime';
import { JudgeData } from './judge';
import type { Polarity } from './preprocess';
import { RawCheckpoint, RawParams } from './raw';
import { EngineProgress, EngineResult } from './pipeline';

export type { FrameDtype } from '../frame-dtypes';

/** The worker posts a checkpoint at most this often: building one reads every row so far. */
export const CHECKPOINT_MS = 2000;

/** Where the worker finds the network: the card and the URLs of its two files. */
export interface ModelLocation {
  readonly card: ModelCard;
  /** Where each graph the card lists is served. */
  readonly urls: { readonly [graph in Graph]?: string };
  /** The division judge the card lists (small: it travels with the card). */
  readonly judge?: JudgeData;
  /** onnxruntime-web's WebAssembly builds, where the page serves them apart (threads need it;
   * without them the bundle's own build runs). */
  readonly runtime?: WasmRuntimes;
}

export interface JobOptions {
  readonly diameter: number;
  /** Cells brighter (fluorescence) or darker (phase contrast) than the background. */
  readonly polarity?: Polarity;
  readonly params?: Partial<RawParams>;
  readonly backend?: BackendChoice;
  /** WebAssembly threads (0: as many as `wasmThreads` allows). A worker keeps the count and
   * the onnxruntime-web build its first job set, so the page starts another worker for a job
   * that asks for a new count or needs the other build (`EngineClient`). */
  readonly threads?: number;
  /** Go on from this checkpoint of an earlier run of the same frames. */
  readonly resume?: RawCheckpoint;
}

export type ToWorker =
  | {
      readonly type: 'start';
      readonly job: number;
      readonly shape: readonly [number, number, number];
      readonly dtype: FrameDtype;
      /** The frames are the network's inputs already (`FrameSource.modelInputs`). */
      readonly modelInputs: boolean;
      readonly options: JobOptions;
      readonly model: ModelLocation;
      /** The onnxruntime-web build the worker loads for its first job (the page chooses it:
       * `runtimeBuild`); a later job runs on the one loaded. */
      readonly build: RuntimeBuild;
    }
  | {
      readonly type: 'frames';
      readonly job: number;
      readonly first: number;
      readonly buffers: ArrayBuffer[];
    }
  | { readonly type: 'frames-failed'; readonly job: number; readonly message: string }
  | { readonly type: 'cancel'; readonly job: number; readonly reason: string };

export type FromWorker =
  | {
      readonly type: 'need-frames';
      readonly job: number;
      readonly first: number;
      readonly count: number;
    }
  /** The worker is starting its engine for this job: fetching the runtime and the model. */
  | { readonly type: 'starting'; readonly job: number }
  | { readonly type: 'progress'; readonly job: number; readonly progress: EngineProgress }
  | { readonly type: 'checkpoint'; readonly job: number; readonly checkpoint: RawCheckpoint }
  | { readonly type: 'done'; readonly job: number; readonly result: EngineResult }
  | {
      readonly type: 'failed';
      readonly job: number;
      readonly name: string;
      readonly message: string;
      /** The tables of the frames done, where there are any. */
      readonly partial: EngineResult | null;
      readonly framesDone: number;
    };

/** The typed-array buffers of a result, to transfer rather than copy. */
export function resultBuffers(result: EngineResult | null): ArrayBuffer[] {
  if (!result) {
    return [];
  }
  const { raw } = result;
  const columns = [
    ...Object.values(result.tracks),
    ...Object.values(result.lineage),
    ...Object.values(result.divisions),
    ...Object.values(raw.tracks),
    ...Object.values(raw.lineage),
    ...Object.values(raw.divisions),
    ...Object.values(raw.sisters)
  ].filter(ArrayBuffer.isView);
  return [...new Set(columns.map(c => c.buffer as ArrayBuffer))];
}
