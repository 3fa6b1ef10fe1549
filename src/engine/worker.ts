/**
 * The engine's Web Worker: runs tracking jobs off the page's thread so that JupyterLab stays
 * responsive. The network's sessions are made once per backend choice and kept for later jobs.
 */

import { BackendChoice, CapSessions, Graph, ModelFiles, cardGraphs, setUpWasm } from './model';
import { FrameSource, TrackingAbortedError, trackSequence } from './pipeline';
import { FRAME_DTYPES, FrameData } from '../frame-dtypes';
import { CHECKPOINT_MS, FromWorker, ModelLocation, ToWorker, resultBuffers } from './protocol';
import { RuntimeBuild } from './runtime';

interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;

const models = new Map<BackendChoice, Promise<CapSessions>>();

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`could not load the model file ${url}: HTTP ${response.status}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

function model(
  location: ModelLocation,
  choice: BackendChoice,
  threads: number,
  build: RuntimeBuild
): Promise<CapSessions> {
  let sessions = models.get(choice);
  if (!sessions) {
    setUpWasm(threads, location.runtime?.[build]);
    sessions = (async () => {
      const bytes: Partial<Record<Graph, Uint8Array>> = {};
      for (const graph of cardGraphs(location.card)) {
        const url = location.urls[graph];
        if (!url) {
          throw new Error(`no address for the model's ${graph} graph`);
        }
        bytes[graph] = await fetchBytes(url);
      }
      const files = { card: location.card, ...bytes, judge: location.judge } as ModelFiles;
      return CapSessions.create(files, choice);
    })();
    models.set(choice, sessions);
    sessions.catch(() => models.delete(choice)); // a later job tries again
  }
  return sessions;
}

interface Job {
  readonly controller: AbortController;
  /** Frame requests waiting for the page's answer, by first frame. */
  readonly pending: Map<
    number,
    { resolve: (f: ArrayBuffer[]) => void; reject: (e: Error) => void }
  >;
}

const jobs = new Map<number, Job>();

async function run(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const { job: id, shape, dtype, modelInputs, options } = message;
  const job: Job = { controller: new AbortController(), pending: new Map() };
  jobs.set(id, job);
  const post = (m: FromWorker, transfer: Transferable[] = []): void =>
    scope.postMessage(m, transfer);
  const View = FRAME_DTYPES[dtype];
  const source: FrameSource = {
    nFrames: shape[0],
    height: shape[1],
    width: shape[2],
    modelInputs,
    frames: async (first, count) => {
      const buffers = await new Promise<ArrayBuffer[]>((resolve, reject) => {
        job.pending.set(first, { resolve, reject });
        post({ type: 'need-frames', job: id, first, count });
      });
      return buffers.map((b): FrameData => new View(b));
    }
  };
  let lastCheckpoint = performance.now();
  try {
    const choice = options.backend ?? 'auto';
    const warm = models.has(choice);
    if (!warm) {
      post({ type: 'starting', job: id });
    }
    const started = performance.now();
    const sessions = await model(message.model, choice, options.threads ?? 0, message.build);
    const startSeconds = warm ? 0 : (performance.now() - started) / 1000;
    const result = await trackSequence(sessions, source, {
      diameter: options.diameter,
      polarity: options.polarity,
      params: options.params,
      signal: job.controller.signal,
      resume: options.resume,
      onProgress: progress => post({ type: 'progress', job: id, progress }),
      onCheckpoint: checkpoint => {
        const now = performance.now();
        if (now - lastCheckpoint >= CHECKPOINT_MS) {
          lastCheckpoint = now;
          post({ type: 'checkpoint', job: id, checkpoint: checkpoint() });
        }
      }
    });
    result.timings.start = startSeconds;
    post({ type: 'done', job: id, result }, resultBuffers(result));
  } catch (error) {
    const aborted = error instanceof TrackingAbortedError ? error : null;
    const failure: FromWorker = {
      type: 'failed',
      job: id,
      name: error instanceof Error ? error.name : 'Error',
      message: error instanceof Error ? error.message : String(error),
      partial: aborted?.partial ?? null,
      framesDone: aborted?.framesDone ?? 0
    };
    post(failure, resultBuffers(failure.partial));
  } finally {
    jobs.delete(id);
  }
}

scope.onmessage = ({ data: message }) => {
  if (message.type === 'start') {
    void run(message);
    return;
  }
  const job = jobs.get(message.job);
  if (!job) {
    return; // a job that has ended already
  }
  if (message.type === 'cancel') {
    job.controller.abort(message.reason);
    for (const { reject } of job.pending.values()) {
      reject(new Error(message.reason));
    }
    job.pending.clear();
  } else if (message.type === 'frames') {
    const request = job.pending.get(message.first);
    job.pending.delete(message.first);
    request?.resolve(message.buffers);
  } else if (message.type === 'frames-failed') {
    for (const { reject } of job.pending.values()) {
      reject(new Error(message.message));
    }
    job.pending.clear();
  }
};
