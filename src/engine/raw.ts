/**
 * Rolling-as-window (RAW) inference, the CAP paper's Algorithm 1 plus new cells from the
 * heatmap: the browser's twin of `cellpoint.engine.raw.raw_inference` (python_stub), held to it
 * by the shared vectors in tests/vectors/raw-*.json (same calls, same tables, same window log).
 *
 * The loop: a window of up to `window` frames starts at tCur with one query per living cell at
 * its tCur position. The tracker's output is read frame by frame. A cell goes on while its own
 * column is visible; once it is not, it divides if both daughter slots are visible and lie
 * either side of it (the daughters become new tracks, children of the cell) and ends otherwise;
 * a cell still visible beside lit daughter slots goes on, and a daughter does not divide again
 * within `min_cycle` frames of her birth (Python's twin says why). Heatmap peaks
 * far from every living cell are new cells. Two tracks that have come onto one cell (nearer
 * than half of `min_separation`, and not sisters) are one too many: the younger ends. The first
 * frame with a division becomes the next tCur, so that the next window's queries include the
 * daughters. New cells wait: until the window has been read for NEW_CELL_HOLD frames each goes
 * on to the nearest heatmap peak within `min_separation` (and ends where there is none), and the
 * first frame after that with a new cell still living becomes the next tCur. A window without
 * events hands over at its last frame. A tracker call looks twice as far ahead as the window
 * before was read, at least half of `window` (`callLength`). Everything is in model pixels.
 *
 * With a sister source (the sister head's maps), sisters born at t that the tracker did not
 * divide split the track that was their mother at t - 1: it ends there, they start as her
 * children (Python's `split_sisters` says how she is chosen). The tracker's own divisions then
 * need a sister pair where its daughter slots are (`CONFIRM_FRACTION`), and the daughters begin
 * at that pair's sisters (`birthPlaces`; the Python module's docstring says why). With a
 * division judge and the preprocessed frames as well, the judge decides which pairs split their
 * mother (from CANDIDATE_SCORE up; judge.ts); without them, those above `sister_threshold` do.
 *
 * Async, for the network runs in onnxruntime-web; cancellable between windows through an
 * AbortSignal, in which case a `RawAbortError` carries the tables of the frames done.
 */

import { boxMean, CANDIDATE_SCORE, HISTORY, ModelFrame, pairFeatures, PairJudge } from './judge';
import { findPeaks, findSisters, Heatmap, SisterMap } from './peaks';
import {
  RawLineage,
  RawTracks,
  Track,
  TrackStore,
  addPoint,
  end,
  endBeforeLast
} from './track-store';

export type { RawLineage, RawTracks } from './track-store';

/** Two living tracks nearer each other than this fraction of `min_separation` follow one cell. */
export const DUPLICATE_FRACTION = 0.5;

/**
 * Frames a window is read for before its new cells (followed on the heatmap meanwhile) make the
 * next window start.
 */
export const NEW_CELL_HOLD = 4;

/**
 * A division's daughters lie either side of their mother: their midpoint is nearer her last
 * point than this fraction of `min_separation` plus her last step (she may have moved on).
 */
export const DIVISION_OFFSET_FRACTION = 0.4;

/**
 * With a sister head, the tracker's division needs a sister peak of at least this fraction of
 * `sister_threshold` whose midpoint lies within DUPLICATE_FRACTION of `min_separation` of its
 * daughter slots' midpoint.
 */
export const CONFIRM_FRACTION = 0.5;

/** RAW's knobs; the same names and defaults as Python's `RawParams`. */
export interface RawParams {
  /** l_win, frames of the longest tracker call (>= 2). */
  readonly window: number;
  /** Heatmap peak value that starts a cell. */
  readonly detection_threshold: number;
  /** A cell column below this is gone. */
  readonly visibility_threshold: number;
  /** Both daughter slots above this: a division. */
  readonly division_threshold: number;
  /** Sister-map peak value that splits a mother. */
  readonly sister_threshold: number;
  /** Model px: a peak nearer a living cell is that cell. */
  readonly min_separation: number;
  /** Frames a cell born by division lives before she can divide (1: any). */
  readonly min_cycle: number;
}

export const DEFAULT_RAW_PARAMS: RawParams = Object.freeze({
  window: 24,
  detection_threshold: 0.25,
  visibility_threshold: 0.5,
  division_threshold: 0.5,
  sister_threshold: 0.4,
  min_separation: 12.0,
  min_cycle: 5
});

/** Defaults overridden by `overrides`, checked as Python's `RawParams.__post_init__` does. */
export function rawParams(overrides: Partial<RawParams> = {}): RawParams {
  const p = { ...DEFAULT_RAW_PARAMS, ...overrides };
  if (!(Number.isInteger(p.window) && p.window >= 2)) {
    throw new RangeError(`window must be at least 2 frames, got ${p.window}`);
  }
  for (const name of [
    'detection_threshold',
    'visibility_threshold',
    'division_threshold',
    'sister_threshold'
  ] as const) {
    const value = p[name];
    if (!(value > 0 && value < 1)) {
      throw new RangeError(`${name} must be in (0, 1), got ${value}`);
    }
  }
  if (!(p.min_separation > 0)) {
    throw new RangeError(`min_separation must be positive, got ${p.min_separation}`);
  }
  if (!(Number.isInteger(p.min_cycle) && p.min_cycle >= 1)) {
    throw new RangeError(`min_cycle must be a whole number of frames >= 1, got ${p.min_cycle}`);
  }
  return Object.freeze(p);
}

/** Frame index -> its heatmap (the encoder's, stride 4). Called once per frame, in order. */
export type HeatmapSource = (t: number) => Heatmap | Promise<Heatmap>;

/**
 * Frame index t >= 1 -> the sister head's map of frames t - 1 and t. Called at most once per
 * frame, in order, before frame t's heatmap.
 */
export type SisterSource = (t: number) => SisterMap | Promise<SisterMap>;

/** Frame index -> the preprocessed model frame, asked for frames t - HISTORY to t. */
export type ModelFrameSource = (t: number) => ModelFrame | Promise<ModelFrame>;

/** What the tracker returns for a window of T frames and N queries. */
export interface WindowOutput {
  /** `[T, N, 3, 2]`: (x, y) of each query's cell and its two daughter slots, per frame. */
  readonly points: Float32Array;
  /** `[T, N, 3]`: the visibility of each of those. */
  readonly visibility: Float32Array;
}

/**
 * Runs the tracker on frames `first .. first + length - 1` for `queries` `[N, 3]` rows
 * (0, x, y): the cells' positions at the window's first frame. `signal` is RAW's abort signal,
 * passed on so that a long call can stop early (by rejecting).
 */
export type WindowTracker = (
  first: number,
  length: number,
  queries: Float32Array,
  signal?: AbortSignal
) => Promise<WindowOutput>;

/** `onProgress(framesDone, cells)`: frames whose tracks are final, and tracks so far. */
export type ProgressCallback = (framesDone: number, cells: number) => void;

/**
 * Where a run stands between two windows: its tables so far and the next window's first frame.
 * Rows up to `tCur` are final; the tracks that end at `tCur` are the living ones. Resuming from
 * a checkpoint gives the tables an uninterrupted run gives.
 */
export interface RawCheckpoint {
  readonly tables: RawResult;
  readonly tCur: number;
}

export interface RawOptions {
  readonly onProgress?: ProgressCallback;
  /** Checked between windows (and between frames without cells). */
  readonly signal?: AbortSignal;
  /**
   * Called before each window (and each cell-free frame) with where the run stands, built only
   * if asked before the call returns (building it reads every row so far).
   */
  readonly onCheckpoint?: (checkpoint: () => RawCheckpoint) => void;
  /** Goes on from a checkpoint of an earlier run with the same frames, network and params. */
  readonly resume?: RawCheckpoint;
  /** The sister head's maps, where the model has one. */
  readonly sisters?: SisterSource;
  /** The preprocessed frames the division judge reads brightness from. */
  readonly frames?: ModelFrameSource;
  /** The division judge, where the model has one (used with `sisters` and `frames`). */
  readonly judge?: PairJudge;
}

/** One row per division; `t` is the daughters' first frame, `score` the lower slot's. */
export interface RawDivisions {
  readonly parent_id: Int32Array;
  readonly t: Int32Array;
  readonly daughter_a: Int32Array;
  readonly daughter_b: Int32Array;
  readonly score: Float64Array;
}

/**
 * Every sister pair the head named, frame by frame (empty without a head): the evidence by
 * which the kernel's lineage step times the divisions (cellpoint.engine.lineage).
 */
export interface RawSisters {
  readonly t: Int32Array;
  readonly xa: Float32Array;
  readonly ya: Float32Array;
  readonly xb: Float32Array;
  readonly yb: Float32Array;
  readonly score: Float32Array;
}

/** One tracker call: its first frame, number of frames and number of queries. */
export interface RawWindow {
  readonly first: number;
  readonly length: number;
  readonly queries: number;
}

export interface RawResult {
  readonly tracks: RawTracks;
  readonly lineage: RawLineage;
  readonly divisions: RawDivisions;
  readonly sisters: RawSisters;
  readonly windows: readonly RawWindow[];
}

/** A whole run's tables, and the most tracks RAW held as objects at once (the rest were rows). */
export interface RawRun extends RawResult {
  readonly peakHeldTracks: number;
}

/**
 * RAW was cancelled. `partial` holds the tables of frames `0 .. framesDone - 1` (tracks that
 * were alive then end there, as far as these tables know); `reason` is the signal's.
 */
export class RawAbortError extends Error {
  readonly partial: RawRun;
  readonly framesDone: number;
  readonly reason: unknown;

  constructor(partial: RawRun, framesDone: number, nFrames: number, reason: unknown) {
    super(`tracking was cancelled after ${framesDone} of ${nFrames} frames`);
    this.name = 'AbortError';
    this.partial = partial;
    this.framesDone = framesDone;
    this.reason = reason;
  }
}

/** Tracks every cell through `nFrames` frames. */
export async function rawInference(
  nFrames: number,
  heatmap: HeatmapSource,
  trackWindow: WindowTracker,
  params: RawParams = DEFAULT_RAW_PARAMS,
  options: RawOptions = {}
): Promise<RawRun> {
  if (!(Number.isInteger(nFrames) && nFrames >= 2)) {
    throw new RangeError(`tracking needs at least 2 frames, got ${nFrames}`);
  }
  rawParams(params); // validates
  return new RawInference(nFrames, heatmap, trackWindow, params, options).run();
}

type DivisionRow = [number, number, number, number, number];
/** A sister pair as `findSisters` gives it: xa, ya, xb, yb, score. */
type SisterRow = [number, number, number, number, number];
/** A sister pair of frame t, as the `sisters` table holds it: t, then the pair. */
type SisterRecord = [number, ...SisterRow];

/**
 * One run of RAW: its state, the loop (`run`, `window`, `frame`, `follow`) and its rules, one
 * method each, in the order of Python's `_RawInference` (cellpoint's raw.py).
 */
class RawInference {
  constructor(
    private readonly nFrames: number,
    private readonly heatmap: HeatmapSource,
    private readonly trackWindow: WindowTracker,
    private readonly params: RawParams,
    private readonly options: RawOptions
  ) {
    const { sisters, frames, judge } = options;
    this.judging = sisters !== undefined && frames !== undefined && judge !== undefined;
    // numpy compares float32 values with float32-rounded thresholds.
    this.visible = Math.fround(params.visibility_threshold);
    this.divides = Math.fround(params.division_threshold);
    this.confirming = Math.fround(params.sister_threshold * CONFIRM_FRACTION);
    this.candidateFloor = Math.fround(this.judging ? CANDIDATE_SCORE : params.sister_threshold);
    this.separation = Math.fround(params.min_separation);
    // Squared, so that both hosts compare exactly the same double-precision numbers.
    this.duplicate = params.min_separation * DUPLICATE_FRACTION;
    this.duplicateSquared = this.duplicate * this.duplicate;
    this.offset = params.min_separation * DIVISION_OFFSET_FRACTION;
    this.nextCall = params.window;
  }

  // --- the loop ------------------------------------------------------------------------------

  async run(): Promise<RawRun> {
    const { resume, onProgress, onCheckpoint } = this.options;
    let tCur = 0;
    if (resume) {
      tCur = restore(resume, this.nFrames, this.store, this.divisions, this.sisters, this.windows);
      this.divisions.forEach(d => this.parents.add(d[0]));
      this.nextCall = resumedCall(this.params.window, this.windows, tCur);
    } else {
      this.stopIfAborted(0);
      this.addNewCells(0, await this.peaks(0));
    }
    while (tCur < this.nFrames - 1) {
      // A stop comes as a message to the worker, heard only when its event loop runs: frames
      // asked for ahead can leave a whole run with nothing else to wait for.
      await nextTask();
      this.stopIfAborted(tCur + 1);
      const at = tCur;
      onCheckpoint?.(() => ({ tables: this.tables(), tCur: at }));
      if (this.store.living(tCur).length === 0) {
        this.nextCall = this.params.window;
        tCur += 1;
        this.store.retire(tCur);
        this.addNewCells(tCur, await this.peaks(tCur));
        onProgress?.(tCur + 1, this.store.made);
        continue;
      }
      tCur = await this.window(tCur);
    }
    return { ...this.tables(), peakHeldTracks: this.store.peakHeld };
  }

  /**
   * One tracker call from tCur with a query per living cell, read frame by frame up to the
   * first frame with a division, or with a living new cell once read for NEW_CELL_HOLD frames;
   * returns that frame (the window's last without one): the next window's first.
   */
  private async window(tCur: number): Promise<number> {
    const { signal } = this.options;
    const active = this.store.living(tCur);
    this.newcomers = [];
    const length = Math.min(this.nextCall, this.nFrames - tCur);
    const n = active.length;
    const queries = new Float32Array(n * 3);
    active.forEach((tr, i) => {
      queries[3 * i + 1] = tr.xs[tr.xs.length - 1] as number;
      queries[3 * i + 2] = tr.ys[tr.ys.length - 1] as number;
    });
    let output: WindowOutput;
    try {
      output = await this.trackWindow(tCur, length, queries, signal);
    } catch (error) {
      this.stopIfAborted(tCur + 1); // a tracker stopped by the signal: cancellation, not failure
      throw error;
    }
    const { points, visibility } = output;
    if (points.length !== length * n * 6 || visibility.length !== length * n * 3) {
      throw new Error(
        `the tracker returned ${points.length} point and ${visibility.length} visibility ` +
          `values for ${length} frames and ${n} queries; expected ${length * n * 6} and ` +
          `${length * n * 3}`
      );
    }
    this.windows.push({ first: tCur, length, queries: n });
    let read = length - 1; // frames after tCur read
    for (let i = 1; i < length; i++) {
      const divided = await this.frame(tCur + i, i, active, output);
      const waiting = i >= NEW_CELL_HOLD && this.newcomers.some(tr => tr.alive);
      if (divided || waiting) {
        read = i;
        break;
      }
    }
    this.nextCall = callLength(this.params.window, read);
    return tCur + read;
  }

  /**
   * Frame t, the window's i-th: each living cell of the window goes on, divides or ends, its
   * new cells go on on the heatmap; then sisters the tracker did not divide, duplicate tracks,
   * new cells. Whether a division came.
   */
  private async frame(
    t: number,
    i: number,
    active: Track[],
    output: WindowOutput
  ): Promise<boolean> {
    this.store.retire(t);
    const pairs = await this.sisterPairs(t);
    const peaks = await this.peaks(t);
    let divided = false;
    active.forEach((tr, q) => {
      divided = this.follow(tr, t, i * active.length + q, output, pairs) || divided;
    });
    this.followNewcomers(peaks);
    divided = (await this.splitSisters(t, pairs)) || divided;
    this.endDuplicates(t);
    this.newcomers.push(...this.addNewCells(t, peaks));
    this.options.onProgress?.(t + 1, this.store.made);
    return divided;
  }

  /**
   * A living cell at frame t, from the tracker's row `row` (frame x query): on while its own
   * column is visible, else divided if both daughter slots are lit, lie either side of her and
   * (with a sister head) a sister pair confirms them (`birthPlaces`), else ended. Whether she
   * divided.
   */
  private follow(
    tr: Track,
    t: number,
    row: number,
    { points, visibility }: WindowOutput,
    pairs: Float32Array | null
  ): boolean {
    if (!tr.alive) {
      return false;
    }
    const v = row * 3;
    const p = row * 6;
    const v0 = visibility[v] as number;
    const v1 = visibility[v + 1] as number;
    const v2 = visibility[v + 2] as number;
    if (v0 > this.visible) {
      addPoint(tr, points[p] as number, points[p + 1] as number, v0);
      return false;
    }
    tr.alive = false;
    if (!(v1 > this.divides && v2 > this.divides && this.canDivide(tr, t))) {
      return false;
    }
    const daughters = slots(points, p);
    const places = this.straddle(tr, ...daughters) ? this.birthPlaces(pairs, ...daughters) : null;
    if (places === null) {
      return false;
    }
    const [xa, ya, xb, yb] = places;
    const a = this.startTrack(t, xa, ya, v1, tr.trackId);
    const b = this.startTrack(t, xb, yb, v2, tr.trackId);
    this.recordDivision(tr, t, a, b, Math.min(v1, v2));
    return true;
  }

  // --- the rules -----------------------------------------------------------------------------

  /** Whether the track may have daughters born at t: not a daughter younger than min_cycle. */
  private canDivide(track: Track, t: number): boolean {
    return track.parentId === 0 || t - track.start >= this.params.min_cycle;
  }

  private startTrack(t: number, x: number, y: number, v: number, parent = 0): Track {
    return this.store.start(t, x, y, v, parent);
  }

  private recordDivision(mother: Track, t: number, a: Track, b: Track, score: number): void {
    this.divisions.push([mother.trackId, t, a.trackId, b.trackId, score]);
    this.parents.add(mother.trackId);
  }

  /**
   * How far daughters with midpoint (mx, my) lie from the mother's k-th point, if they lie either
   * side of her there (Python's `midpoint_gap`); null if not. Square roots, not hypot, so that
   * both hosts compute the same correctly rounded numbers.
   */
  private midpointGap(mother: Track, k: number, mx: number, my: number): number | null {
    const x = mother.xs[k] as number;
    const y = mother.ys[k] as number;
    const gap = Math.sqrt(squaredLength(mx - x, my - y));
    const step =
      k > 0
        ? Math.sqrt(
            squaredLength(x - (mother.xs[k - 1] as number), y - (mother.ys[k - 1] as number))
          )
        : 0;
    return gap < this.offset + step ? gap : null;
  }

  /** Whether daughters at (ax, ay) and (bx, by) lie either side of the mother's last point. */
  private straddle(mother: Track, ax: number, ay: number, bx: number, by: number): boolean {
    const last = mother.xs.length - 1;
    return this.midpointGap(mother, last, (ax + bx) / 2, (ay + by) / 2) !== null;
  }

  /** Two tracks on one cell (not sisters): the younger ends at t - 1. */
  private endDuplicates(t: number): void {
    const here = this.store.living(t).filter(tr => tr.start < t);
    here.forEach((young, k) => {
      for (const old of here.slice(0, k)) {
        if (!old.alive || (old.parentId !== 0 && old.parentId === young.parentId)) {
          continue;
        }
        const dx =
          (old.xs[old.xs.length - 1] as number) - (young.xs[young.xs.length - 1] as number);
        const dy =
          (old.ys[old.ys.length - 1] as number) - (young.ys[young.ys.length - 1] as number);
        if (dx * dx + dy * dy < this.duplicateSquared) {
          endBeforeLast(young);
          break;
        }
      }
    });
  }

  /** Frame t's sister pairs down to the confirming threshold (or the judge's floor); null
   * without a head. */
  private async sisterPairs(t: number): Promise<Float32Array | null> {
    const { sisters } = this.options;
    if (!sisters) {
      return null;
    }
    let map: SisterMap;
    try {
      map = await sisters(t);
    } catch (error) {
      this.stopIfAborted(t);
      throw error;
    }
    const threshold = Math.min(this.confirming, this.candidateFloor);
    const pairs = findSisters(map, threshold, this.params.min_separation);
    for (let k = 0; k < pairs.length; k += 5) {
      this.sisters.push([t, ...pairs.subarray(k, k + 5)] as SisterRecord);
    }
    return pairs;
  }

  /**
   * Where the daughters of the daughter slots (ax, ay) and (bx, by) begin, as (xa, ya, xb, yb):
   * at the slots without a sister head; with one, at the sisters of the pair that confirms the
   * division (its midpoint nearest theirs, within DUPLICATE_FRACTION of `min_separation`), given
   * to the slots the way that puts them nearer together (the smaller sum of squared distances);
   * null where no pair does.
   */
  private birthPlaces(
    pairs: Float32Array | null,
    ax: number,
    ay: number,
    bx: number,
    by: number
  ): [number, number, number, number] | null {
    if (pairs === null) {
      return [ax, ay, bx, by];
    }
    const mx = (ax + bx) / 2;
    const my = (ay + by) / 2;
    let best = -1;
    let nearest = this.duplicateSquared;
    for (let k = 0; k < pairs.length; k += 5) {
      const px = ((pairs[k] as number) + (pairs[k + 2] as number)) / 2;
      const py = ((pairs[k + 1] as number) + (pairs[k + 3] as number)) / 2;
      const gap = squaredLength(px - mx, py - my);
      if ((pairs[k + 4] as number) > this.confirming && gap < nearest) {
        best = k;
        nearest = gap;
      }
    }
    if (best < 0) {
      return null;
    }
    const xa = pairs[best] as number;
    const ya = pairs[best + 1] as number;
    const xb = pairs[best + 2] as number;
    const yb = pairs[best + 3] as number;
    const crossed = squaredLength(xb - ax, yb - ay) + squaredLength(xa - bx, ya - by);
    if (crossed < squaredLength(xa - ax, ya - ay) + squaredLength(xb - bx, yb - by)) {
      return [xb, yb, xa, ya];
    }
    return [xa, ya, xb, yb];
  }

  /**
   * The judge's word on sisters (xa, ya, xb, yb, score) born at t to `mother`, `gap` from her
   * point at t - 1 (without a judge, every pair above `sister_threshold` is one).
   */
  private async isDivision(
    t: number,
    pair: [number, number, number, number, number],
    mother: Track,
    gap: number
  ): Promise<boolean> {
    if (!this.judging) {
      return true;
    }
    const [xa, ya, xb, yb, score] = pair;
    const k = t - 1 - mother.start; // her point at t - 1
    const history: number[] = [];
    for (let j = 0; j < Math.min(HISTORY, k + 1); j++) {
      const frame = await this.modelFrame(t - 1 - j);
      history.push(boxMean(frame, mother.xs[k - j] as number, mother.ys[k - j] as number));
    }
    const now = await this.modelFrame(t);
    const features = pairFeatures(
      score,
      Math.sqrt(squaredLength(xa - xb, ya - yb)) / 2,
      gap,
      mother.alive && end(mother) === t,
      history,
      [boxMean(now, xa, ya), boxMean(now, xb, yb)]
    );
    return (this.options.judge as PairJudge)({
      t,
      pair,
      mother: [mother.xs[k] as number, mother.ys[k] as number],
      features
    });
  }

  /** Sisters born at t that the tracker did not divide split their mother (Python's twin). */
  private async splitSisters(t: number, pairs: Float32Array | null): Promise<boolean> {
    if (pairs === null) {
      return false;
    }
    const { store, duplicateSquared } = this;
    let found = false;
    for (let k = 0; k < pairs.length; k += 5) {
      if (!((pairs[k + 4] as number) > this.candidateFloor)) {
        continue;
      }
      const xa = pairs[k] as number;
      const ya = pairs[k + 1] as number;
      const xb = pairs[k + 2] as number;
      const yb = pairs[k + 3] as number;
      const score = pairs[k + 4] as number;
      const seen = store.held.some(
        tr =>
          tr.start === t &&
          tr.parentId !== 0 &&
          (near(tr, 0, xa, ya, duplicateSquared) || near(tr, 0, xb, yb, duplicateSquared))
      );
      if (seen) {
        continue; // the tracker divided her already
      }
      const mx = (xa + xb) / 2;
      const my = (ya + yb) / 2;
      const reach = Math.sqrt(squaredLength(xa - xb, ya - yb)) / 2 + this.duplicate;
      let mother: Track | null = null;
      let nearest = Infinity;
      for (const tr of store.held) {
        if (tr.start >= t || this.parents.has(tr.trackId) || !this.canDivide(tr, t)) {
          continue;
        }
        if (tr.alive && end(tr) === t) {
          if (!near(tr, t - tr.start, mx, my, reach * reach)) {
            continue; // followed neither sister
          }
        } else if (tr.alive || end(tr) !== t - 1) {
          continue;
        }
        const gap = this.midpointGap(tr, t - 1 - tr.start, mx, my);
        if (gap !== null && gap < nearest) {
          mother = tr;
          nearest = gap;
        }
      }
      if (
        mother === null ||
        !(await this.isDivision(t, [xa, ya, xb, yb, score], mother, nearest))
      ) {
        continue;
      }
      if (mother.alive) {
        endBeforeLast(mother);
      }
      const a = this.startTrack(t, xa, ya, score, mother.trackId);
      const b = this.startTrack(t, xb, yb, score, mother.trackId);
      this.recordDivision(mother, t, a, b, score);
      found = true;
    }
    return found;
  }

  /** Frame t's heatmap peaks, (x, y, score) each. */
  private async peaks(t: number): Promise<Float32Array> {
    let map: Heatmap;
    try {
      map = await this.heatmap(t);
    } catch (error) {
      this.stopIfAborted(t); // a source stopped by the signal: cancellation, not failure
      throw error;
    }
    return findPeaks(map, this.params.detection_threshold, this.params.min_separation);
  }

  /**
   * The window's new cells, oldest first, each on to the nearest of the frame's `peaks` no other
   * took, within `min_separation` of her last point; one without ends.
   */
  private followNewcomers(peaks: Float32Array): void {
    const reach = this.params.min_separation * this.params.min_separation;
    const taken = new Set<number>();
    for (const tr of this.newcomers) {
      if (!tr.alive) {
        continue;
      }
      const lastX = tr.xs[tr.xs.length - 1] as number;
      const lastY = tr.ys[tr.ys.length - 1] as number;
      let best = -1;
      let nearest = reach;
      for (let k = 0; k < peaks.length; k += 3) {
        const squared = squaredLength(
          (peaks[k] as number) - lastX,
          (peaks[k + 1] as number) - lastY
        );
        if (!taken.has(k) && squared < nearest) {
          best = k;
          nearest = squared;
        }
      }
      if (best < 0) {
        tr.alive = false;
        continue;
      }
      taken.add(best);
      addPoint(tr, peaks[best] as number, peaks[best + 1] as number, peaks[best + 2] as number);
    }
  }

  /** `peaks` of frame t far from every living cell start new tracks, returned. */
  private addNewCells(t: number, peaks: Float32Array): Track[] {
    const living = this.store.living(t);
    const lx = living.map(tr => tr.xs[tr.xs.length - 1] as number);
    const ly = living.map(tr => tr.ys[tr.ys.length - 1] as number);
    const started: Track[] = [];
    for (let k = 0; k < peaks.length; k += 3) {
      const x = peaks[k] as number;
      const y = peaks[k + 1] as number;
      // The nearest living cell, by float32 differences and hypot as numpy's on float32
      // arrays; a NaN distance makes the minimum NaN (np.min), which is near nothing.
      let nearest = Infinity;
      for (let j = 0; j < lx.length; j++) {
        const d = Math.fround(
          Math.hypot(Math.fround((lx[j] as number) - x), Math.fround((ly[j] as number) - y))
        );
        nearest = Number.isNaN(d) ? NaN : Math.min(nearest, d);
      }
      if (!(nearest < this.separation)) {
        started.push(this.startTrack(t, x, y, peaks[k + 2] as number));
      }
    }
    return started;
  }

  // --- the browser's own: cancelling, and async sources --------------------------------------

  /** A frame for the judge, stopping (not failing) where the signal stopped its source. */
  private async modelFrame(t: number): Promise<ModelFrame> {
    try {
      return await (this.options.frames as ModelFrameSource)(t);
    } catch (error) {
      this.stopIfAborted(t);
      throw error;
    }
  }

  private stopIfAborted(framesDone: number): void {
    const { signal } = this.options;
    if (signal?.aborted) {
      throw new RawAbortError(
        { ...this.tables(), peakHeldTracks: this.store.peakHeld },
        framesDone,
        this.nFrames,
        signal.reason
      );
    }
  }

  private tables(): RawResult {
    return tables(this.store, this.divisions, this.sisters, this.windows);
  }

  private readonly store = new TrackStore();
  /** Frames of the next tracker call (`callLength`). */
  private nextCall: number;
  private readonly divisions: DivisionRow[] = [];
  /** Every pair the sister head named: (t, xa, ya, xb, yb, score). */
  private readonly sisters: SisterRecord[] = [];
  /** Tracks with daughters. */
  private readonly parents = new Set<number>();
  private readonly windows: RawWindow[] = [];
  /** New cells since the window's first frame. */
  private newcomers: Track[] = [];
  private readonly judging: boolean;
  private readonly visible: number;
  private readonly divides: number;
  private readonly confirming: number;
  private readonly candidateFloor: number;
  private readonly separation: number;
  private readonly duplicate: number;
  private readonly duplicateSquared: number;
  private readonly offset: number;
}

/** Whether the track's k-th point lies nearer (x, y) than the root of `squared`. */
function near(tr: Track, k: number, x: number, y: number, squared: number): boolean {
  return squaredLength((tr.xs[k] as number) - x, (tr.ys[k] as number) - y) < squared;
}

/** Resolves after the tasks already queued (messages, timers) have run. */
function nextTask(): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, 0));
}

/** The daughter slots' points (ax, ay, bx, by) of the query whose points start at `p`. */
function slots(points: Float32Array, p: number): [number, number, number, number] {
  return [
    points[p + 2] as number,
    points[p + 3] as number,
    points[p + 4] as number,
    points[p + 5] as number
  ];
}

/** dx² + dy² as products, so that both hosts round it alike. */
function squaredLength(dx: number, dy: number): number {
  return dx * dx + dy * dy;
}

/**
 * Frames of the next tracker call after a window read for `read` frames after its first: twice
 * as many, at least half of `window`, at most `window` (Python's `call_length`).
 */
export function callLength(window: number, read: number): number {
  return Math.min(window, Math.max(2 * read, Math.floor(window / 2), 2));
}

/**
 * The next tracker call's frames at a checkpoint's tCur: a window ends on the frame it was read
 * to, where there are always cells (an event starts tracks there), so a tCur past the last
 * window's frames came after a frame without cells, which resets the call to a full window.
 */
function resumedCall(window: number, windows: readonly RawWindow[], tCur: number): number {
  const last = windows[windows.length - 1];
  if (!last || tCur > last.first + last.length - 1) {
    return window;
  }
  return callLength(window, tCur - last.first);
}

/** Fills RAW's state from a checkpoint; returns its tCur. */
function restore(
  checkpoint: RawCheckpoint,
  nFrames: number,
  store: TrackStore,
  divisions: DivisionRow[],
  sisters: SisterRecord[],
  windows: RawWindow[]
): number {
  const { tables: done, tCur } = checkpoint;
  if (!(Number.isInteger(tCur) && tCur >= 0 && tCur < nFrames)) {
    throw new RangeError(`cannot resume at frame ${tCur} of ${nFrames}`);
  }
  const { lineage, tracks: rows } = done;
  let r = 0;
  for (let i = 0; i < lineage.track_id.length; i++) {
    const trackId = lineage.track_id[i] as number;
    const start = lineage.start[i] as number;
    const last = lineage.end[i] as number;
    if (trackId !== i + 1 || last > tCur) {
      throw new Error(
        `the checkpoint's lineage row ${i} (track ${trackId}) does not fit frame ${tCur}`
      );
    }
    const track: Track = {
      trackId,
      parentId: lineage.parent_id[i] as number,
      start,
      xs: [],
      ys: [],
      vis: [],
      alive: last === tCur
    };
    for (let t = start; t <= last; t++, r++) {
      if (rows.track_id[r] !== trackId || rows.t[r] !== t) {
        throw new Error(`the checkpoint's tracks table lacks track ${trackId} at frame ${t}`);
      }
      addPoint(track, rows.x[r] as number, rows.y[r] as number, rows.visibility[r] as number);
    }
    store.takeBack(track, tCur);
  }
  for (const row of rowsOf(done.divisions, [
    'parent_id',
    't',
    'daughter_a',
    'daughter_b',
    'score'
  ])) {
    divisions.push(row as DivisionRow);
  }
  for (const row of rowsOf(done.sisters, ['t', 'xa', 'ya', 'xb', 'yb', 'score'])) {
    sisters.push(row as SisterRecord);
  }
  windows.push(...done.windows);
  return tCur;
}

/** A table's rows, each the values of `keys` in that order. */
function rowsOf<K extends string>(
  table: Readonly<Record<K, ArrayLike<number>>>,
  keys: readonly K[]
): number[][] {
  const n = table[keys[0] as K].length;
  return Array.from({ length: n }, (_, i) => keys.map(k => table[k][i] as number));
}

function tables(
  store: TrackStore,
  divisions: readonly DivisionRow[],
  sisters: readonly SisterRecord[],
  windows: readonly RawWindow[]
): RawResult {
  const division = (k: 0 | 1 | 2 | 3): Int32Array => Int32Array.from(divisions, d => d[k]);
  const pair = (k: 1 | 2 | 3 | 4 | 5): Float32Array => Float32Array.from(sisters, s => s[k]);
  return {
    ...store.tables(),
    divisions: {
      parent_id: division(0),
      t: division(1),
      daughter_a: division(2),
      daughter_b: division(3),
      score: Float64Array.from(divisions, d => d[4])
    },
    sisters: {
      t: Int32Array.from(sisters, s => s[0]),
      xa: pair(1),
      ya: pair(2),
      xb: pair(3),
      yb: pair(4),
      score: pair(5)
    },
    windows: windows.slice()
  };
}
