/**
 * The track index: a small hand-made table (with a gap in a track), the checks on its input,
 * and every lookup against brute force on a random table.
 */
import { ITrackColumns, TrackIndex } from '../../src/widget/review/track-index';
import { random } from './random';

/** Rows as [track_id, t, y, x, visibility], in (track_id, t) order. */
type Row = [number, number, number, number, number];

function columnsOf(rows: Row[]): ITrackColumns {
  return {
    track_id: rows.map(r => r[0]),
    t: rows.map(r => r[1]),
    y: rows.map(r => r[2]),
    x: rows.map(r => r[3]),
    visibility: rows.map(r => r[4])
  };
}

const ROWS: Row[] = [
  [1, 0, 10, 1, 0.9],
  [1, 1, 11, 2, 0.8],
  [1, 2, 12, 3, 0.7],
  [1, 3, 13, 4, 0.6],
  [2, 1, 20, 5, 1],
  [2, 2, 21, 6, 1],
  [5, 0, 50, 7, 0.5],
  [5, 2, 52, 8, 0.5], // no point in frame 1
  [5, 3, 53, 9, 0.5],
  [9, 4, 90, 10, 0.75]
];

function plain(points: ReturnType<TrackIndex['pointsAt']>): Record<string, number[]> {
  return {
    trackId: Array.from(points.trackId),
    y: Array.from(points.y),
    x: Array.from(points.x),
    visibility: Array.from(points.visibility)
  };
}

describe('TrackIndex on a hand-made table', () => {
  const index = new TrackIndex(columnsOf(ROWS));

  it('knows the frames and the track ids', () => {
    expect(index.frames).toBe(5);
    expect(index.trackIds()).toEqual(new Int32Array([1, 2, 5, 9]));
  });

  it('gives the points of each frame by track id', () => {
    expect(plain(index.pointsAt(0))).toEqual({
      trackId: [1, 5],
      y: [10, 50],
      x: [1, 7],
      visibility: [Math.fround(0.9), 0.5]
    });
    expect(Array.from(index.pointsAt(1).trackId)).toEqual([1, 2]);
    expect(plain(index.pointsAt(2))).toEqual({
      trackId: [1, 2, 5],
      y: [12, 21, 52],
      x: [3, 6, 8],
      visibility: [Math.fround(0.7), 1, 0.5]
    });
    expect(Array.from(index.pointsAt(3).trackId)).toEqual([1, 5]);
    expect(plain(index.pointsAt(4))).toEqual({
      trackId: [9],
      y: [90],
      x: [10],
      visibility: [0.75]
    });
    for (const t of [5, -1, 1.5, NaN]) {
      expect(index.pointsAt(t).trackId).toHaveLength(0);
    }
  });

  it('gives tails as x, y pairs from max(start, t - k) to min(t, end)', () => {
    expect(Array.from(index.tail(1, 3, 2))).toEqual([2, 11, 3, 12, 4, 13]);
    expect(Array.from(index.tail(1, 2, 10))).toEqual([1, 10, 2, 11, 3, 12]);
    expect(Array.from(index.tail(1, 3, 0))).toEqual([4, 13]);
    // Track 5 has no point in frame 1: the tail skips it.
    expect(Array.from(index.tail(5, 3, 2))).toEqual([8, 52, 9, 53]);
    // Track 2 ended in frame 2.
    expect(Array.from(index.tail(2, 4, 5))).toEqual([5, 20, 6, 21]);
    expect(Array.from(index.tail(2, 4, 1))).toEqual([]);
    // Before a track starts, and for an unknown track: nothing.
    expect(index.tail(2, 0, 3)).toEqual(new Float32Array(0));
    expect(index.tail(9, 3, 3)).toHaveLength(0);
    expect(index.tail(7, 2, 3)).toHaveLength(0);
  });

  it('gives positions as [y, x], undefined where a track has no point', () => {
    expect(index.position(5, 2)).toEqual([52, 8]);
    expect(index.position(1, 0)).toEqual([10, 1]);
    expect(index.position(9, 4)).toEqual([90, 10]);
    expect(index.position(5, 1)).toBeUndefined();
    expect(index.position(2, 0)).toBeUndefined();
    expect(index.position(1, 1.5)).toBeUndefined();
    expect(index.position(3, 0)).toBeUndefined();
  });

  it('finds the nearest track within the radius, inclusive, ties to the smaller id', () => {
    // Frame 2: track 1 at (12, 3), track 2 at (21, 6), track 5 at (52, 8).
    expect(index.nearest(2, 12, 3, 1)).toBe(1);
    expect(index.nearest(2, 16, 4, 5)).toBe(1); // sqrt(17) to track 1, sqrt(29) to track 2
    expect(index.nearest(2, 16, 4, 4)).toBeUndefined();
    expect(index.nearest(2, 19, 5, 5)).toBe(2);
    expect(index.nearest(2, 12, 7, 4)).toBe(1); // exactly on the radius
    expect(index.nearest(2, 16.5, 4.5, 10)).toBe(1); // sqrt(22.5) to tracks 1 and 2
    expect(index.nearest(2, 45, 8, Infinity)).toBe(5);
    expect(index.nearest(0, 12, 3, 0)).toBeUndefined();
    expect(index.nearest(7, 12, 3, 100)).toBeUndefined();
    expect(() => index.nearest(2, 12, 3, -1)).toThrow('radius >= 0, got -1');
    expect(() => index.nearest(2, 12, 3, NaN)).toThrow('radius >= 0');
  });

  it('hands out copies of the track ids and views of the frame points', () => {
    const ids = index.trackIds();
    ids[0] = 99;
    expect(index.trackIds()[0]).toBe(1);
    const first = index.pointsAt(2);
    expect(first.x.buffer).toBe(index.pointsAt(0).x.buffer);
  });

  it('reads typed columns as it reads arrays', () => {
    const c = columnsOf(ROWS);
    const typed = new TrackIndex({
      track_id: Int32Array.from(c.track_id),
      t: Int32Array.from(c.t),
      y: Float64Array.from(c.y),
      x: Float64Array.from(c.x),
      visibility: Float32Array.from(c.visibility)
    });
    for (let t = 0; t < 5; t++) {
      expect(plain(typed.pointsAt(t))).toEqual(plain(index.pointsAt(t)));
    }
    expect(typed.tail(5, 3, 3)).toEqual(index.tail(5, 3, 3));
  });
});

describe('TrackIndex input checks', () => {
  it('is empty for empty columns', () => {
    const index = new TrackIndex(columnsOf([]));
    expect(index.frames).toBe(0);
    expect(index.trackIds()).toHaveLength(0);
    expect(index.pointsAt(0).trackId).toHaveLength(0);
    expect(index.tail(1, 0, 5)).toHaveLength(0);
    expect(index.position(1, 0)).toBeUndefined();
    expect(index.nearest(0, 0, 0, 10)).toBeUndefined();
  });

  it('names the lengths when the columns differ', () => {
    const columns = { ...columnsOf(ROWS), visibility: [] };
    expect(() => new TrackIndex(columns)).toThrow(
      'track columns must have one length, got track_id 10, t 10, y 10, x 10, visibility 0'
    );
    const missing = { ...columnsOf(ROWS), x: undefined } as unknown as ITrackColumns;
    expect(() => new TrackIndex(missing)).toThrow('x undefined');
  });

  it('rejects unsorted or repeated rows', () => {
    const swapped = [...ROWS];
    [swapped[4], swapped[6]] = [swapped[6] as Row, swapped[4] as Row];
    expect(() => new TrackIndex(columnsOf(swapped))).toThrow(
      'track rows must be sorted by (track_id, t) without repeats; see row 5'
    );
    const backwards: Row[] = [
      [1, 3, 0, 0, 1],
      [1, 2, 0, 0, 1]
    ];
    expect(() => new TrackIndex(columnsOf(backwards))).toThrow('see row 1');
    const repeated: Row[] = [
      [1, 2, 0, 0, 1],
      [1, 2, 5, 5, 1]
    ];
    expect(() => new TrackIndex(columnsOf(repeated))).toThrow('without repeats; see row 1');
  });

  it('rejects ids and frames that are not integers, and negative frames', () => {
    expect(() => new TrackIndex(columnsOf([[1, -1, 0, 0, 1]]))).toThrow(
      'track row 0: track_id and t must be integers, t >= 0; got 1, -1'
    );
    expect(() => new TrackIndex(columnsOf([[1, 0.5, 0, 0, 1]]))).toThrow('got 1, 0.5');
    expect(() => new TrackIndex(columnsOf([[NaN, 0, 0, 0, 1]]))).toThrow('got NaN, 0');
  });
});

describe('TrackIndex on a random table', () => {
  // 150 tracks over up to 40 frames, each with random gaps; ids with holes between them.
  const next = random(3);
  const rows: Row[] = [];
  for (let k = 0, id = 3; k < 150; k++, id += 1 + Math.floor(next() * 3)) {
    const start = Math.floor(next() * 35);
    const end = start + Math.floor(next() * 10);
    for (let t = start; t <= end; t++) {
      if (t === start || next() > 0.2) {
        rows.push([id, t, next() * 100, next() * 100, next()]);
      }
    }
  }
  const index = new TrackIndex(columnsOf(rows));
  const f32 = Math.fround;

  it('agrees with brute force on frames, points, tails and positions', () => {
    expect(index.frames).toBe(Math.max(...rows.map(r => r[1])) + 1);
    expect(Array.from(index.trackIds())).toEqual([...new Set(rows.map(r => r[0]))]);
    for (let t = 0; t < index.frames; t++) {
      const here = rows.filter(r => r[1] === t);
      expect(plain(index.pointsAt(t))).toEqual({
        trackId: here.map(r => r[0]),
        y: here.map(r => f32(r[2])),
        x: here.map(r => f32(r[3])),
        visibility: here.map(r => f32(r[4]))
      });
    }
    for (const id of index.trackIds()) {
      for (const [t, k] of [
        [0, 3],
        [10, 0],
        [20, 5],
        [30, 40],
        [44, 2]
      ] as const) {
        const path = rows.filter(r => r[0] === id && r[1] >= t - k && r[1] <= t);
        expect(Array.from(index.tail(id, t, k))).toEqual(path.flatMap(r => [f32(r[3]), f32(r[2])]));
        const at = rows.find(r => r[0] === id && r[1] === t);
        expect(index.position(id, t)).toEqual(at ? [f32(at[2]), f32(at[3])] : undefined);
      }
    }
  });

  it('picks the nearest point within the radius, and nothing farther', () => {
    let hits = 0;
    for (let trial = 0; trial < 500; trial++) {
      const t = Math.floor(next() * index.frames);
      const y = next() * 100;
      const x = next() * 100;
      const radius = next() * 20;
      const here = rows
        .filter(r => r[1] === t)
        .map(r => ({ id: r[0], d: Math.hypot(f32(r[2]) - y, f32(r[3]) - x) }));
      const within = here.filter(p => p.d <= radius).sort((a, b) => a.d - b.d || a.id - b.id);
      const found = index.nearest(t, y, x, radius);
      expect(found).toBe(within[0]?.id);
      if (found !== undefined) {
        hits++;
        const [py, px] = index.position(found, t) as [number, number];
        expect(Math.hypot(py - y, px - x)).toBeLessThanOrEqual(radius);
      }
    }
    // Both outcomes are exercised.
    expect(hits).toBeGreaterThan(100);
    expect(hits).toBeLessThan(400);
  });
});
