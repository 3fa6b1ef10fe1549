/**
 * The page's side of the engine: starts jobs in the Web Worker, answers its requests for frames
 * from a `PageFrameSource` (the kernel's comm, or frames already on the page), and turns its
 * answers into promises. Cancelling a job (its signal) ends it with the frames done kept.
 */

import { EngineProgress, EngineResult, TrackingAbortedError } from './pipeline';
import { RawCheckpoint } from './raw';
import { FrameDtype, FromWorker, JobOptions, ModelLocation, ToWorker } from './protocol';
import { RuntimeBuild, buildServes, runtimeBuild } from './runtime';
import { wasmThreads } from './threads';

/** Frames as the page gets them: raw bytes of `dtype`, `[height * width]` each. */
export interface PageFrameSource {
  /** The stack's (T, H, W). */
  readonly shape: readonly [number, number, number];
  readonly dtype: FrameDtype;
  /** The frames are the network's inputs already (`FrameSource.modelInputs`), not the stack's. */
  readonly modelInputs?: boolean;
  /** Frames `first .. first + count - 1`, one buffer each (transferred to the worker). */
  frames(first: number, count: number): Promise<ArrayBuffer[]>;
}

export interface ClientJobOptions extends JobOptions {
  readonly signal?: AbortSignal;
  /** The engine starts for this job (it was not warm): before the first progress. */
  readonly onStarting?: () => void;
  readonly onProgress?: (progress: EngineProgress) => void;
  readonly onCheckpoint?: (checkpoint: RawCheckpoint) => void;
}

/** A job that failed in the worker; `partial` holds the frames done, where there are any. */
export class EngineJobError extends Error {
  constructor(
    name: string,
    message: string,
    readonly partial: EngineResult | null,
    readonly framesDone: number
  ) {
    super(message);
    this.name = name;
  }
}

export class EngineClient {
  private worker: Worker | null = null;
  /** The threads and the WebAssembly build the worker's onnxruntime runs on, set by its first
   * job for its life (null: no worker). */
  private setUp: { readonly threads: number; readonly build: RuntimeBuild } | null = null;
  private nextJob = 1;
  private readonly handlers = new Map<number, (message: FromWorker) => void>();
  /** Jobs waiting for the running ones to end, for they need a fresh worker. */
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly createWorker: () => Worker,
    private readonly model: ModelLocation
  ) {}

  /** Tracks `source`'s frames in the worker. */
  track(source: PageFrameSource, options: ClientJobOptions): Promise<EngineResult> {
    // The page sees the isolation, the cores and WebGPU its worker does.
    const build = runtimeBuild(options.backend ?? 'auto');
    const threads = wasmThreads(options.threads ?? 0, this.model.runtime?.[build]).threads;
    const unfit = this.setUp !== null && !buildServes(this.setUp.build, build);
    if (this.worker && unfit && this.handlers.size > 0) {
      // The running jobs' worker cannot start WebGPU: this job starts when they have ended.
      return new Promise<void>(resolve => this.idleWaiters.push(resolve)).then(() =>
        this.track(source, options)
      );
    }
    if (this.worker && (unfit || this.setUp?.threads !== threads) && this.handlers.size === 0) {
      this.dispose(); // another build or thread count needs a fresh onnxruntime
    }
    this.setUp ??= { threads, build };
    const workerBuild = this.setUp.build;
    const worker = this.ensureWorker();
    const job = this.nextJob++;
    const { signal, onStarting, onProgress, onCheckpoint, ...jobOptions } = options;
    const send = (message: ToWorker, transfer: Transferable[] = []): void =>
      worker.postMessage(message, transfer);
    return new Promise<EngineResult>((resolve, reject) => {
      const onAbort = (): void =>
        send({ type: 'cancel', job, reason: String(signal?.reason ?? 'cancelled') });
      signal?.addEventListener('abort', onAbort);
      const settle = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.handlers.delete(job);
        if (this.handlers.size === 0) {
          this.idleWaiters.splice(0).forEach(wake => wake());
        }
      };
      this.handlers.set(job, message => {
        switch (message.type) {
          case 'need-frames':
            source.frames(message.first, message.count).then(
              buffers => send({ type: 'frames', job, first: message.first, buffers }, buffers),
              (error: unknown) =>
                send({
                  type: 'frames-failed',
                  job,
                  message: `could not get frames ${message.first} to ${message.first + message.count - 1}: ${error instanceof Error ? error.message : String(error)}`
                })
            );
            break;
          case 'starting':
            onStarting?.();
            break;
          case 'progress':
            onProgress?.(message.progress);
            break;
          case 'checkpoint':
            onCheckpoint?.(message.checkpoint);
            break;
          case 'done':
            settle();
            resolve(message.result);
            break;
          case 'failed':
            settle();
            reject(
              message.name === 'AbortError' && message.partial
                ? new TrackingAbortedError(message.partial, message.framesDone, signal?.reason)
                : new EngineJobError(
                    message.name,
                    message.message,
                    message.partial,
                    message.framesDone
                  )
            );
            break;
        }
      });
      if (signal?.aborted) {
        settle();
        reject(new Error(`tracking was cancelled before it started: ${String(signal.reason)}`));
        return;
      }
      send({
        type: 'start',
        job,
        shape: source.shape,
        dtype: source.dtype,
        modelInputs: source.modelInputs ?? false,
        options: jobOptions,
        model: this.model,
        build: workerBuild
      });
    });
  }

  /** Stops the worker; jobs still running fail. */
  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
    this.setUp = null;
    this.failAll('the tracking engine was shut down');
  }

  private failAll(message: string): void {
    for (const handler of [...this.handlers.values()]) {
      handler({ type: 'failed', job: 0, name: 'Error', message, partial: null, framesDone: 0 });
    }
  }

  private ensureWorker(): Worker {
    if (!this.worker) {
      const worker = this.createWorker();
      worker.onmessage = ({ data }: MessageEvent<FromWorker>) =>
        this.handlers.get(data.job)?.(data);
      worker.onerror = event => {
        // The worker itself broke (it could not load, or ran out of memory): every job ends.
        this.worker = null;
        this.setUp = null;
        this.failAll(event.message || 'the tracking engine stopped unexpectedly');
      };
      this.worker = worker;
    }
    return this.worker;
  }
}
