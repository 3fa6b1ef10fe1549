/**
 * RAW's tracks, the browser's twin of `cellpoint.engine.track_store` (python_stub): the tracks a
 * later frame may still change or read are objects (`held`, in id order); the others are
 * finished rows in typed arrays, so that what RAW holds is bounded by the cells in view, not by
 * the length of the sequence.
 *
 * At frame t RAW's rules change only living tracks and read, besides them, the tracks that
 * ended at t - 1 (a mother the sister head names may have been lost there): a track that
 * ended before t - 1 is final, and `retire(t)` moves it to the finished rows.
 */

/** Whether no rule at frame t or later changes or reads the track: it ended before t - 1. */
function isFinal(track: Track, t: number): boolean {
  return !track.alive && end(track) < t - 1;
}

/** A track RAW may still change: its points so far, in model pixels. */
export interface Track {
  readonly trackId: number;
  readonly parentId: number;
  readonly start: number;
  readonly xs: number[];
  readonly ys: number[];
  readonly vis: number[];
  alive: boolean;
}

/** The track's last frame. */
export function end(track: Track): number {
  return track.start + track.xs.length - 1;
}

/** The track's point in the frame after its last. */
export function addPoint(track: Track, x: number, y: number, visibility: number): void {
  track.xs.push(x);
  track.ys.push(y);
  track.vis.push(visibility);
}

/** Ends the track a frame earlier: its last point belongs to another cell. */
export function endBeforeLast(track: Track): void {
  track.xs.pop();
  track.ys.pop();
  track.vis.pop();
  track.alive = false;
}

/** The tracks table, one row per (track, frame), sorted by (track_id, t); model pixels. */
export interface RawTracks {
  readonly track_id: Int32Array;
  readonly t: Int32Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly visibility: Float32Array;
}

/** One row per track: CTC man_track semantics (frames inclusive, parent 0 = none). */
export interface RawLineage {
  readonly track_id: Int32Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly parent_id: Int32Array;
}

type Column = Int32Array | Float32Array | Float64Array;

/** `column` with room for `size` values: itself, or a copy twice as long (or `size`). */
function withRoom<C extends Column>(column: C, size: number): C {
  if (size <= column.length) {
    return column;
  }
  const Kind = column.constructor as new (length: number) => C;
  const out = new Kind(Math.max(size, 2 * column.length));
  out.set(column);
  return out;
}

/** Finished tracks: one lineage row each and their points, end to end. */
class FinishedTracks {
  count = 0;
  points = 0;
  trackId = new Int32Array(64);
  parentId = new Int32Array(64);
  start = new Int32Array(64);
  /** Where each track's points begin in x, y, vis. */
  offset = new Int32Array(64);
  x = new Float64Array(256);
  y = new Float64Array(256);
  vis = new Float32Array(256);

  add(track: Track): void {
    const i = this.count++;
    this.trackId = withRoom(this.trackId, this.count);
    this.parentId = withRoom(this.parentId, this.count);
    this.start = withRoom(this.start, this.count);
    this.offset = withRoom(this.offset, this.count);
    this.trackId[i] = track.trackId;
    this.parentId[i] = track.parentId;
    this.start[i] = track.start;
    this.offset[i] = this.points;
    const n = track.xs.length;
    this.points += n;
    this.x = withRoom(this.x, this.points);
    this.y = withRoom(this.y, this.points);
    this.vis = withRoom(this.vis, this.points);
    const at = this.offset[i] as number;
    this.x.set(track.xs, at);
    this.y.set(track.ys, at);
    this.vis.set(track.vis, at);
  }

  length(i: number): number {
    const next = i + 1 < this.count ? (this.offset[i + 1] as number) : this.points;
    return next - (this.offset[i] as number);
  }
}

export class TrackStore {
  /** Tracks a later frame may still change or read, in id order. */
  held: Track[] = [];
  /** Tracks made so far; the next track's id is `made + 1`. */
  made = 0;
  /** The most tracks held as objects at once. */
  peakHeld = 0;
  private readonly finished = new FinishedTracks();

  /** A new track with one point at frame t. */
  start(t: number, x: number, y: number, v: number, parentId = 0): Track {
    this.made += 1;
    return this.hold({
      trackId: this.made,
      parentId,
      start: t,
      xs: [x],
      ys: [y],
      vis: [v],
      alive: true
    });
  }

  /** A track of a checkpoint before frame t + 1 (ids in order, from 1), held or finished. */
  takeBack(track: Track, t: number): void {
    this.made = Math.max(this.made, track.trackId);
    if (isFinal(track, t + 1)) {
      this.finished.add(track);
    } else {
      this.hold(track);
    }
  }

  /** The tracks alive at frame t, in id order. */
  living(t: number): Track[] {
    return this.held.filter(tr => tr.alive && end(tr) === t);
  }

  /** Moves the tracks final at frame t to the finished rows. */
  retire(t: number): void {
    const kept: Track[] = [];
    for (const tr of this.held) {
      if (isFinal(tr, t)) {
        this.finished.add(tr);
      } else {
        kept.push(tr);
      }
    }
    this.held = kept;
  }

  private hold(track: Track): Track {
    this.held.push(track);
    this.peakHeld = Math.max(this.peakHeld, this.held.length);
    return track;
  }

  /** The tracks and lineage tables, finished and held tracks together, by (track_id, t). */
  tables(): { tracks: RawTracks; lineage: RawLineage } {
    const done = this.finished;
    // A finished track is its index in `done`; a held one is itself.
    const entries: { id: number; source: number | Track }[] = [];
    for (let i = 0; i < done.count; i++) {
      entries.push({ id: done.trackId[i] as number, source: i });
    }
    let rows = done.points;
    for (const tr of this.held) {
      entries.push({ id: tr.trackId, source: tr });
      rows += tr.xs.length;
    }
    entries.sort((a, b) => a.id - b.id);
    const tracks = {
      track_id: new Int32Array(rows),
      t: new Int32Array(rows),
      x: new Float64Array(rows),
      y: new Float64Array(rows),
      visibility: new Float32Array(rows)
    };
    const n = entries.length;
    const lineage = {
      track_id: new Int32Array(n),
      start: new Int32Array(n),
      end: new Int32Array(n),
      parent_id: new Int32Array(n)
    };
    let r = 0;
    entries.forEach(({ id, source }, k) => {
      let start: number;
      let parent: number;
      let length: number;
      if (typeof source === 'number') {
        start = done.start[source] as number;
        parent = done.parentId[source] as number;
        length = done.length(source);
        const at = done.offset[source] as number;
        tracks.x.set(done.x.subarray(at, at + length), r);
        tracks.y.set(done.y.subarray(at, at + length), r);
        tracks.visibility.set(done.vis.subarray(at, at + length), r);
      } else {
        start = source.start;
        parent = source.parentId;
        length = source.xs.length;
        tracks.x.set(source.xs, r);
        tracks.y.set(source.ys, r);
        tracks.visibility.set(source.vis, r);
      }
      for (let i = 0; i < length; i++) {
        tracks.track_id[r + i] = id;
        tracks.t[r + i] = start + i;
      }
      r += length;
      lineage.track_id[k] = id;
      lineage.start[k] = start;
      lineage.end[k] = start + length - 1;
      lineage.parent_id[k] = parent;
    });
    return { tracks, lineage };
  }
}
