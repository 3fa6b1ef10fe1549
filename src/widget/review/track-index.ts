/**
 * Fast lookups into the tracks table for drawing and picking: the points of a frame, a track's
 * recent path, a track's position, the track nearest a click.
 */

/** The tracks table as columns, sorted by (track_id, t), as the kernel sends it. */
export interface ITrackColumns {
  track_id: ArrayLike<number>;
  t: ArrayLike<number>;
  y: ArrayLike<number>;
  x: ArrayLike<number>;
  visibility: ArrayLike<number>;
}

/** The points of one frame, by increasing track id. */
export interface IFramePoints {
  trackId: Int32Array;
  y: Float32Array;
  x: Float32Array;
  visibility: Float32Array;
}

export class TrackIndex {
  /**
   * Builds the index in O(n). Throws unless the columns have one length, track ids and frames
   * are integers (frames >= 0), and rows are sorted by (track_id, t) without repeats.
   */
  constructor(columns: ITrackColumns) {
    const n = checkColumns(columns);
    this._t = Int32Array.from(columns.t);
    this._y = Float32Array.from(columns.y);
    this._x = Float32Array.from(columns.x);
    const trackOf = Int32Array.from(columns.track_id);
    this._ids = uniqueSorted(trackOf);
    this._firstRow = firstRows(trackOf, this._ids.length);
    this._frames = n > 0 ? this._t.reduce((a, b) => Math.max(a, b)) + 1 : 0;
    this._byFrame = groupByFrame(this._t, this._frames);
    this._points = pointsInFrameOrder(columns, this._byFrame.rows, trackOf);
  }

  /** One more than the last frame with a point; 0 without points. */
  get frames(): number {
    return this._frames;
  }

  /**
   * All points in frame `t` (none for a frame without points), by increasing track id.
   * Views into the index, not copies: read them, do not write them.
   */
  pointsAt(t: number): IFramePoints {
    const ok = Number.isInteger(t) && t >= 0 && t < this._frames;
    const from = ok ? (this._byFrame.start[t] as number) : 0;
    const to = ok ? (this._byFrame.start[t + 1] as number) : 0;
    const { trackId, y, x, visibility } = this._points;
    return {
      trackId: trackId.subarray(from, to),
      y: y.subarray(from, to),
      x: x.subarray(from, to),
      visibility: visibility.subarray(from, to)
    };
  }

  /**
   * The track's path over frames max(start, t - k) to min(t, end), in time order, as
   * interleaved x, y pairs (ready for moveTo / lineTo); frames where the track has no point
   * are skipped, so the path joins across them. Empty if it has no point there.
   */
  tail(trackId: number, t: number, k: number): Float32Array {
    const [first, last] = this._rowsOf(trackId);
    const from = lowerBound(this._t, first, last, t - k);
    const to = lowerBound(this._t, from, last, Math.floor(t) + 1);
    const path = new Float32Array(2 * (to - from));
    for (let r = from, p = 0; r < to; r++) {
      path[p++] = this._x[r] as number;
      path[p++] = this._y[r] as number;
    }
    return path;
  }

  /** The track's point in frame `t` as [y, x], or undefined if it has none there. */
  position(trackId: number, t: number): [number, number] | undefined {
    const [first, last] = this._rowsOf(trackId);
    const r = lowerBound(this._t, first, last, t);
    return r < last && this._t[r] === t ? [this._y[r] as number, this._x[r] as number] : undefined;
  }

  /**
   * The id of the track whose point in frame `t` is closest to (y, x) and no farther than
   * `radius`; undefined if there is none. Ties go to the smaller track id.
   */
  nearest(t: number, y: number, x: number, radius: number): number | undefined {
    if (!(radius >= 0)) {
      throw new Error(`nearest needs a radius >= 0, got ${radius}`);
    }
    const points = this.pointsAt(t);
    let best: number | undefined;
    let bestD2 = radius * radius;
    for (let i = 0; i < points.trackId.length; i++) {
      const dy = (points.y[i] as number) - y;
      const dx = (points.x[i] as number) - x;
      const d2 = dy * dy + dx * dx;
      if (d2 < bestD2 || (d2 === bestD2 && best === undefined)) {
        best = points.trackId[i] as number;
        bestD2 = d2;
      }
    }
    return best;
  }

  /** The track ids, sorted, each once (a copy). */
  trackIds(): Int32Array {
    return this._ids.slice();
  }

  /** The track's rows [first, last), empty for an unknown track. */
  private _rowsOf(trackId: number): [number, number] {
    const i = lowerBound(this._ids, 0, this._ids.length, trackId);
    if (i === this._ids.length || this._ids[i] !== trackId) {
      return [0, 0];
    }
    return [this._firstRow[i] as number, this._firstRow[i + 1] as number];
  }

  private _t: Int32Array;
  private _y: Float32Array;
  private _x: Float32Array;
  private _ids: Int32Array;
  /** Track i's rows are [_firstRow[i], _firstRow[i + 1]). */
  private _firstRow: Int32Array;
  private _frames: number;
  private _byFrame: { start: Int32Array; rows: Int32Array };
  private _points: IFramePoints;
}

/** The common length of the columns, after checking them. */
function checkColumns(columns: ITrackColumns): number {
  const names = ['track_id', 't', 'y', 'x', 'visibility'] as const;
  const lengths = names.map(name => columns[name]?.length);
  const n = lengths[0] as number;
  if (lengths.some(length => length !== n)) {
    const found = names.map((name, i) => `${name} ${lengths[i]}`).join(', ');
    throw new Error(`track columns must have one length, got ${found}`);
  }
  const { track_id: ids, t } = columns;
  for (let r = 0; r < n; r++) {
    const id = ids[r] as number;
    const frame = t[r] as number;
    if (!(Number.isInteger(id) && Number.isInteger(frame) && frame >= 0)) {
      throw new Error(
        `track row ${r}: track_id and t must be integers, t >= 0; got ${id}, ${frame}`
      );
    }
    if (r > 0 && !inOrder(ids[r - 1] as number, t[r - 1] as number, id, frame)) {
      throw new Error(`track rows must be sorted by (track_id, t) without repeats; see row ${r}`);
    }
  }
  return n;
}

function inOrder(id0: number, t0: number, id1: number, t1: number): boolean {
  return id0 < id1 || (id0 === id1 && t0 < t1);
}

/** The distinct values of a sorted array. */
function uniqueSorted(sorted: Int32Array): Int32Array {
  return sorted.filter((v, i) => i === 0 || v !== sorted[i - 1]);
}

/** Where each track's rows begin, plus the row count at the end. */
function firstRows(trackOf: Int32Array, tracks: number): Int32Array {
  const first = new Int32Array(tracks + 1);
  let i = 0;
  for (let r = 0; r < trackOf.length; r++) {
    if (r > 0 && trackOf[r] !== trackOf[r - 1]) {
      first[++i] = r;
    }
  }
  first[tracks] = trackOf.length;
  return first;
}

/**
 * A counting sort of the rows by frame: frame f's rows are rows[start[f]..start[f + 1]), in
 * their table order, so by track id.
 */
function groupByFrame(t: Int32Array, frames: number): { start: Int32Array; rows: Int32Array } {
  const start = new Int32Array(frames + 1);
  for (const f of t) {
    start[f + 1] = (start[f + 1] as number) + 1;
  }
  for (let f = 0; f < frames; f++) {
    start[f + 1] = (start[f + 1] as number) + (start[f] as number);
  }
  const next = start.slice(0, frames);
  const rows = new Int32Array(t.length);
  for (let r = 0; r < t.length; r++) {
    const f = t[r] as number;
    rows[next[f] as number] = r;
    next[f] = (next[f] as number) + 1;
  }
  return { start, rows };
}

/** The point columns reordered by frame, so that a frame's points are one slice of each. */
function pointsInFrameOrder(
  columns: ITrackColumns,
  rows: Int32Array,
  trackOf: Int32Array
): IFramePoints {
  const pick = (source: ArrayLike<number>): Float32Array =>
    Float32Array.from(rows, r => source[r] as number);
  return {
    trackId: Int32Array.from(rows, r => trackOf[r] as number),
    y: pick(columns.y),
    x: pick(columns.x),
    visibility: pick(columns.visibility)
  };
}

/** The first index in [from, to) of sorted `a` whose value is >= `value` (`to` if none). */
function lowerBound(a: Int32Array, from: number, to: number, value: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < value) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}
