/**
 * The browser's side of a tracking job (`cellpoint.job.job.TrackingJob` in the kernel): the
 * widget model says it is ready, runs the CAP tracker contribution when the kernel says start,
 * pulls frames from the kernel a request at a time, and sends back progress, checkpoints and
 * the tables; the view is the progress bar under the cell. Every message from the kernel is
 * checked against the shared schema first.
 */

import {
  DOMWidgetModel,
  DOMWidgetView,
  IBackboneModelOptions,
  ISerializers
} from '@jupyter-widgets/base';
import { JSONObject } from '@lumino/coreutils';

import type { ICapTracker } from '../builtins';
import type { PageFrameSource } from '../engine/client';
import type { EngineResult } from '../engine/pipeline';
import type { Polarity } from '../engine/preprocess';
import { FRAME_DTYPES, FrameDtype } from '../frame-dtypes';
import type { RawCheckpoint, RawResult } from '../engine/raw';
import { Buffers } from '../comm-buffers';
import { KernelRequests } from '../comm-requests';
import { IContributionRegistry } from '../host';
import { MODULE_NAME, MODULE_VERSION } from '../version';
import { IJobState, JobProgress, defineJobProgress } from '../widget/job-progress';
import {
  FromKernel,
  MAX_MESSAGE_BYTES,
  PROTOCOL,
  TablesAssembly,
  TablesKind,
  checkFromKernel,
  encodeTables
} from './messages';

/** The tracker a job runs unless the kernel names another. */
export const DEFAULT_TRACKER = 'cellpoint.cap';
/** How often a running job tells the kernel it is still there. */
const HEARTBEAT_MS = 2000;
const PROGRESS_MS = 250;
const READY_REPEAT_MS = 1000;

/** Widget classes for the kernel's `JobWidget`, bound to this page's registry. */
export function createJobWidget(registry: IContributionRegistry): {
  TrackingJobModel: typeof DOMWidgetModel;
  TrackingJobView: typeof DOMWidgetView;
} {
  defineJobProgress();

  class TrackingJobModel extends DOMWidgetModel {
    defaults(): Backbone.ObjectHash {
      return {
        ...super.defaults(),
        _model_name: 'TrackingJobModel',
        _model_module: MODULE_NAME,
        _model_module_version: MODULE_VERSION,
        _view_name: 'TrackingJobView',
        _view_module: MODULE_NAME,
        _view_module_version: MODULE_VERSION,
        shape: [],
        dtype: 'uint8',
        diameter: 0,
        polarity: 'bright',
        params: {},
        backend_choice: '',
        threads_choice: 0,
        status: 'waiting',
        message: '',
        frames_done: 0,
        n_frames: 0,
        cells: 0,
        backend: '',
        eta_s: -1,
        stage: ''
      };
    }

    static serializers: ISerializers = { ...DOMWidgetModel.serializers };

    initialize(attributes: Backbone.ObjectHash, options: IBackboneModelOptions): void {
      super.initialize(attributes, options);
      this.on('msg:custom', (content: unknown, buffers?: Buffers) =>
        this.onKernelMessage(content, buffers ?? [])
      );
      // The kernel restarted or shut down: the widget manager closes every model.
      this.on('destroy', () => this.stop('the kernel went away (restarted or shut down)'));
      // A job the kernel has already finished (a page reloaded later) has nothing to run.
      if (this.get('status') === 'waiting') {
        // Said again every second until the kernel starts the job: JupyterLab sends comm
        // messages on a kernel subshell only once that subshell exists, and a message sent
        // before waits behind the running cell (the kernel ignores the repeats).
        const ready = (): void =>
          this.post({ type: 'ready', protocol: PROTOCOL, tracker: DEFAULT_TRACKER });
        ready();
        this.readyTimer = setInterval(ready, READY_REPEAT_MS);
        this.on('change:status', () => this.stopSayingReady());
        this.on('destroy', () => this.stopSayingReady());
      }
    }

    private readyTimer: ReturnType<typeof setInterval> | null = null;

    private stopSayingReady(): void {
      if (this.readyTimer !== null) {
        clearInterval(this.readyTimer);
        this.readyTimer = null;
      }
    }

    private controller: AbortController | null = null;
    // Frames may wait on a kernel busy with a cell: no timeout (the kernel's watchdog and the
    // job's heartbeat tell a lost peer).
    private readonly requests = new KernelRequests((content, buffers) =>
      this.post(content, buffers)
    );
    private nextSeq = 1;
    private readonly resumes = new Map<number, TablesAssembly>();
    /** Frames pulled from the kernel: bytes, and seconds from asking to having them. */
    private readonly transfer = { seconds: 0, bytes: 0 };

    private onKernelMessage(content: unknown, buffers: Buffers): void {
      let message: FromKernel;
      try {
        message = checkFromKernel(content);
      } catch (error) {
        this.stop(error instanceof Error ? error.message : String(error));
        return;
      }
      switch (message.type) {
        case 'start':
          this.stopSayingReady();
          void this.run(message.resume_seq);
          break;
        case 'tables': {
          if (message.kind !== 'resume') {
            this.stop(`the kernel sent tables of kind ${message.kind}`);
            break;
          }
          let assembly = this.resumes.get(message.seq);
          if (!assembly) {
            assembly = new TablesAssembly(message);
            this.resumes.set(message.seq, assembly);
          }
          assembly.add(message, buffers);
          break;
        }
        case 'reply':
          this.requests.answer(message, buffers);
          break;
        case 'cancel':
          this.stop(message.reason);
          break;
      }
    }

    /**
     * Sends to the kernel. A kernel that restarted leaves this model with a dead comm, whose
     * sends throw: the job then has nobody to work for and stops.
     */
    private post(content: JSONObject, buffers?: ArrayBuffer[]): void {
      try {
        this.send(content, {}, buffers);
      } catch (error) {
        this.stopSayingReady();
        this.stop(`the kernel went away (restarted or shut down): ${String(error)}`);
      }
    }

    /** Aborts a running job (its tables so far go to the kernel as it ends). */
    private stop(reason: string): void {
      if (this.controller && !this.controller.signal.aborted) {
        console.info(`cellpoint: tracking job stopped: ${reason}`);
        this.controller.abort(reason);
      }
      this.requests.failAll(reason);
    }

    private source(): PageFrameSource {
      const shape = this.get('shape') as [number, number, number];
      const [height, width] = this.get('frame_shape') as [number, number];
      const dtype = this.get('dtype') as FrameDtype;
      const frameBytes = height * width * FRAME_DTYPES[dtype].BYTES_PER_ELEMENT;
      const perRequest = Math.max(1, Math.floor(MAX_MESSAGE_BYTES / frameBytes));
      const request = async (first: number, count: number): Promise<ArrayBuffer[]> => {
        const { buffers } = await this.requests.ask({ type: 'get-frames', first, count });
        if (buffers.length !== count) {
          throw new Error(`${count} frames came in ${buffers.length} buffers`);
        }
        return buffers;
      };
      return {
        shape,
        dtype,
        modelInputs: this.get('model_inputs') as boolean,
        frames: async (first, count) => {
          const start = performance.now();
          const parts = [];
          for (let f = first; f < first + count; f += perRequest) {
            parts.push(request(f, Math.min(perRequest, first + count - f)));
          }
          const frames = (await Promise.all(parts)).flat();
          this.transfer.seconds += (performance.now() - start) / 1000;
          this.transfer.bytes += count * frameBytes;
          return frames;
        }
      };
    }

    private sendTables(raw: RawResult, kind: TablesKind, tCur: number): number {
      const seq = this.nextSeq++;
      for (const [message, buffers] of encodeTables(raw, seq, kind, tCur)) {
        this.post(message as unknown as JSONObject, buffers);
      }
      return seq;
    }

    private async run(resumeSeq: number | null): Promise<void> {
      if (this.controller) {
        return; // already running (the kernel asked twice)
      }
      const controller = new AbortController();
      this.controller = controller;
      let resume: RawCheckpoint | undefined;
      let lastProgress = 0;
      const heartbeat = setInterval(() => this.post({ type: 'alive' }), HEARTBEAT_MS);
      try {
        if (resumeSeq !== null) {
          const assembly = this.resumes.get(resumeSeq);
          if (!assembly?.complete) {
            throw new Error(`the checkpoint to resume from (tables ${resumeSeq}) is incomplete`);
          }
          resume = assembly.checkpoint();
          this.resumes.clear();
        }
        const tracker = await registry.load<ICapTracker>(DEFAULT_TRACKER);
        const backend = this.get('backend_choice') as string;
        const threads = this.get('threads_choice') as number;
        const result = await tracker.track(this.source(), {
          diameter: this.get('diameter') as number,
          polarity: this.get('polarity') as Polarity,
          params: this.get('params') as Record<string, number>,
          ...(backend ? { backend: backend as 'auto' | 'webgpu' | 'wasm' } : {}),
          ...(threads > 0 ? { threads } : {}),
          resume,
          signal: controller.signal,
          onStarting: () => this.post({ type: 'starting' }),
          onProgress: p => {
            const now = performance.now();
            if (now - lastProgress < PROGRESS_MS && p.framesDone < p.nFrames) {
              return;
            }
            lastProgress = now;
            this.post({
              type: 'progress',
              frames_done: p.framesDone,
              n_frames: p.nFrames,
              cells: p.cells,
              backend: p.backend,
              seconds: p.seconds
            });
          },
          // The engine sends one at most every CHECKPOINT_MS.
          onCheckpoint: checkpoint =>
            this.sendTables(checkpoint.tables, 'checkpoint', checkpoint.tCur)
        });
        this.finish(result);
      } catch (error) {
        const { partial, framesDone } = error as {
          partial?: EngineResult | null;
          framesDone?: number;
        };
        const seq =
          partial && framesDone ? this.sendTables(partial.raw, 'partial', framesDone - 1) : null;
        this.post({
          type: 'failed',
          name: error instanceof Error ? error.name : 'Error',
          message: error instanceof Error ? error.message : String(error),
          frames_done: framesDone ?? 0,
          seq,
          params: partial ? { ...partial.params } : null
        });
      } finally {
        clearInterval(heartbeat);
        this.controller = null;
      }
    }

    private finish(result: EngineResult): void {
      const [n] = this.get('shape') as [number];
      const seq = this.sendTables(result.raw, 'result', n - 1);
      const { timings } = result;
      this.post({
        type: 'done',
        seq,
        backend: result.backend,
        fallback_reason: result.fallbackReason,
        threads: {
          count: result.threads.threads,
          cross_origin_isolated: result.threads.crossOriginIsolated,
          reason: result.threads.reason
        },
        seconds: { ...timings, transfer: this.transfer.seconds },
        frame_bytes: this.transfer.bytes,
        params: { ...result.params }
      });
    }
  }

  class TrackingJobView extends DOMWidgetView {
    render(): void {
      this.bar = document.createElement('cellpoint-job-progress') as JobProgress;
      this.el.classList.add('cellpoint-job-widget');
      this.el.appendChild(this.bar);
      this.listenTo(this.model, 'change', this.refresh);
      this.refresh();
    }

    private refresh(): void {
      const keys = [
        'status',
        'message',
        'stage',
        'frames_done',
        'n_frames',
        'cells',
        'backend',
        'eta_s'
      ];
      this.bar.state = Object.fromEntries(keys.map(k => [k, this.model.get(k)])) as IJobState;
    }

    private bar!: JobProgress;
  }

  return { TrackingJobModel, TrackingJobView };
}
