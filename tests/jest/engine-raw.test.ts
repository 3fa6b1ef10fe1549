/**
 * RAW inference and heatmap peaks in TypeScript against the Python reference: the shared
 * vectors in tests/vectors (written by tests/python/make_vectors.py) record the heatmaps and
 * every tracker call Python's raw_inference made, and the tables it produced. Here the
 * TypeScript RAW runs against a tracker that replays those outputs only where the call it gets
 * is the recorded one, and must produce the same tables.
 */
import {
  callLength,
  DEFAULT_RAW_PARAMS,
  findPeaks,
  Heatmap,
  JudgeData,
  RawAbortError,
  RawCheckpoint,
  rawInference,
  rawParams,
  RawParams,
  RawResult,
  RawOptions,
  SisterSource,
  treeJudge,
  WindowOutput,
  WindowTracker
} from '../../src/engine';
import { dec, Encoded, load, maxDiff } from './vectors';

// --- vectors ----------------------------------------------------------------------------------

function f32(e: Encoded): Float32Array {
  expect(e.dtype).toBe('float32');
  return dec(e) as Float32Array;
}

interface Call {
  first: number;
  length: number;
  queries: Encoded;
  points: Encoded;
  visibility: Encoded;
}

type Columns = Record<string, Encoded>;

interface RawCase {
  name: string;
  description: string;
  n_frames: number;
  params: RawParams;
  heatmaps: { scale: number; q: Encoded };
  /** The sister maps RAW read (frames, in order), or null where RAW had no sister source. */
  sister_maps: { frames: Encoded; maps: Encoded } | null;
  /** The division judge (judge.json's text) and the model frames it read; null without. */
  judge: { judge: string; frames: Encoded; shape: number[]; scale: number; q: Encoded } | null;
  /** The ground truth's division frames, where every division must be called on its frame. */
  divisions_on_time: number[] | null;
  calls: Call[];
  expected: {
    tracks: Columns;
    lineage: Columns;
    divisions: Columns;
    sisters: Columns;
    windows: Encoded;
    progress: Encoded;
    /** The most tracks RAW held as objects at once. */
    peak_held_tracks: number;
  };
}

interface PeakCase {
  name: string;
  threshold: number;
  min_separation: number;
  heatmap: Encoded;
  expected: Encoded;
}

const RAW_FILES = [
  'raw-scenes.json',
  'raw-sisters.json',
  'raw-judge.json',
  'raw-turnover.json',
  'raw-sim-small.json',
  'raw-sim-hard.json'
];
const RAW_CASES: [string, RawCase][] = RAW_FILES.flatMap(file =>
  load<{ cases: RawCase[] }>(file).cases.map((c): [string, RawCase] => [`${file}: ${c.name}`, c])
);

/** The recorded heatmaps, q / 256 as float32 (exact), noting the frames read. */
function heatmaps(c: RawCase, reads: number[]): (t: number) => Heatmap {
  const q = dec(c.heatmaps.q) as Uint8Array;
  const [frames, height, width] = c.heatmaps.q.shape as [number, number, number];
  expect(frames).toBe(c.n_frames);
  return t => {
    reads.push(t);
    const data = new Float32Array(height * width);
    const base = t * height * width;
    for (let i = 0; i < data.length; i++) {
      data[i] = (q[base + i] as number) * c.heatmaps.scale;
    }
    return { data, height, width };
  };
}

/** The recorded sister maps by frame, noting the frames read; undefined where RAW had none. */
function sisterMaps(c: RawCase, reads: number[] = []): SisterSource | undefined {
  if (!c.sister_maps) {
    return undefined;
  }
  const frames = Array.from(dec(c.sister_maps.frames));
  const { maps } = c.sister_maps;
  const data = f32(maps);
  const [, , height, width] = maps.shape as [number, number, number, number];
  const size = 3 * height * width;
  return t => {
    reads.push(t);
    const k = frames.indexOf(t);
    if (k < 0) {
      throw new Error(`Python read no sister map at frame ${t}`);
    }
    return { data: data.slice(k * size, (k + 1) * size), height, width };
  };
}

/** The recorded judge and model frames (noting the frames read), where Python had them. */
function judged(c: RawCase, reads: number[] = []): Pick<RawOptions, 'frames' | 'judge'> {
  if (!c.judge) {
    return {};
  }
  const frames = Array.from(dec(c.judge.frames));
  const q = dec(c.judge.q) as Uint8Array;
  const [height, width] = c.judge.shape as [number, number];
  const { scale } = c.judge;
  return {
    judge: treeJudge(JSON.parse(c.judge.judge) as JudgeData),
    frames: t => {
      reads.push(t);
      const k = frames.indexOf(t);
      if (k < 0) {
        throw new Error(`Python read no model frame at frame ${t}`);
      }
      const data = new Float32Array(height * width);
      for (let i = 0; i < data.length; i++) {
        data[i] = (q[k * height * width + i] as number) * scale;
      }
      return { data, height, width };
    }
  };
}

/** A tracker that answers with the recorded outputs, only for the recorded calls, in order. */
function replay(c: RawCase): { tracker: WindowTracker; used: () => number } {
  let next = 0;
  const tracker: WindowTracker = async (first, length, queries) => {
    const call = c.calls[next];
    const label = `call ${next + 1} (first ${first}, length ${length}, ${queries.length / 3} queries)`;
    if (!call) {
      throw new Error(`${label}: Python made only ${c.calls.length} calls`);
    }
    next += 1;
    if (call.first !== first || call.length !== length) {
      throw new Error(`${label}: Python asked for first ${call.first}, length ${call.length}`);
    }
    const expected = f32(call.queries);
    if (queries.length !== expected.length) {
      throw new Error(`${label}: Python asked ${expected.length / 3} queries`);
    }
    queries.forEach((v, i) => {
      if (!(Math.abs(v - (expected[i] as number)) <= 1e-4)) {
        throw new Error(`${label}: query value ${i} is ${v}, Python's ${expected[i]}`);
      }
    });
    return { points: f32(call.points), visibility: f32(call.visibility) };
  };
  return { tracker, used: () => next };
}

function expectTables(result: RawResult, expected: RawCase['expected']): void {
  const ints = (e: Encoded): number[] => Array.from(dec(e));
  const { tracks, lineage, divisions } = expected;
  expect(Array.from(result.tracks.track_id)).toEqual(ints(tracks.track_id as Encoded));
  expect(Array.from(result.tracks.t)).toEqual(ints(tracks.t as Encoded));
  expect(maxDiff(result.tracks.x, dec(tracks.x as Encoded))).toBeLessThanOrEqual(1e-3);
  expect(maxDiff(result.tracks.y, dec(tracks.y as Encoded))).toBeLessThanOrEqual(1e-3);
  expect(maxDiff(result.tracks.visibility, dec(tracks.visibility as Encoded))).toBeLessThan(1e-6);
  for (const key of ['track_id', 'start', 'end', 'parent_id'] as const) {
    expect([key, Array.from(result.lineage[key])]).toEqual([key, ints(lineage[key] as Encoded)]);
  }
  for (const key of ['parent_id', 't', 'daughter_a', 'daughter_b'] as const) {
    expect([key, Array.from(result.divisions[key])]).toEqual([
      key,
      ints(divisions[key] as Encoded)
    ]);
  }
  expect(maxDiff(result.divisions.score, dec(divisions.score as Encoded))).toBeLessThan(1e-6);
  const { sisters } = expected;
  expect(Array.from(result.sisters.t)).toEqual(ints(sisters.t as Encoded));
  for (const key of ['xa', 'ya', 'xb', 'yb', 'score'] as const) {
    expect([key, maxDiff(result.sisters[key], dec(sisters[key] as Encoded))]).toEqual([key, 0]);
  }
  const windows = ints(expected.windows);
  expect(result.windows.flatMap(w => [w.first, w.length, w.queries])).toEqual(windows);
}

describe('RAW inference against the Python reference', () => {
  it('has vectors to check', () => {
    expect(RAW_CASES.length).toBeGreaterThanOrEqual(22);
    expect(RAW_CASES.filter(([, c]) => c.sister_maps).length).toBeGreaterThanOrEqual(5);
    const events = RAW_CASES.map(([, c]) => c.description).join(' ');
    for (const word of ['enters', 'divides', 'disappears', 'hand over', 'T = 5 < window']) {
      expect(events).toContain(word);
    }
  });

  it.each(RAW_CASES)('%s', async (_name, c) => {
    const reads: number[] = [];
    const sisterReads: number[] = [];
    const frameReads: number[] = [];
    const progress: number[] = [];
    const { tracker, used } = replay(c);
    const result = await rawInference(
      c.n_frames,
      heatmaps(c, reads),
      tracker,
      rawParams(c.params),
      {
        onProgress: (done, cells) => progress.push(done, cells),
        sisters: sisterMaps(c, sisterReads),
        ...judged(c, frameReads)
      }
    );
    expect(used()).toBe(c.calls.length);
    expectTables(result, c.expected);
    expect(progress).toEqual(Array.from(dec(c.expected.progress)));
    expect(result.peakHeldTracks).toBe(c.expected.peak_held_tracks);
    if (c.divisions_on_time) {
      // The CTC's convention, as the ground truth's: each division on its daughters' frame.
      expect([...result.divisions.t].sort((a, b) => a - b)).toEqual(c.divisions_on_time);
    }
    // Each frame's heatmap is read once, in order; so are the sister maps Python read.
    expect(reads).toEqual(Array.from({ length: c.n_frames }, (_, t) => t));
    expect(sisterReads).toEqual(c.sister_maps ? Array.from(dec(c.sister_maps.frames)) : []);
    const framesRead = [...new Set(frameReads)].sort((a, b) => a - b);
    expect(framesRead).toEqual(c.judge ? Array.from(dec(c.judge.frames)) : []);
  });

  it('holds as many tracks in a long sequence as in a short one', async () => {
    // Tracks that ended before the frame before are finished rows, not objects.
    const held: number[] = [];
    const made: number[] = [];
    for (const name of ['turnover_30', 'turnover_120']) {
      const c = caseNamed(name);
      const result = await rawInference(
        c.n_frames,
        heatmaps(c, []),
        replay(c).tracker,
        rawParams(c.params)
      );
      expectTables(result, c.expected);
      held.push(result.peakHeldTracks);
      made.push(result.lineage.track_id.length);
    }
    expect(made[1]).toBeGreaterThan(3 * (made[0] as number));
    expect(held[1]).toBe(held[0]);
  });

  it('agrees to the bit on coordinates', async () => {
    // float32 steps are reproduced exactly: not just within 1e-3 px.
    for (const [, c] of RAW_CASES) {
      const { tracker } = replay(c);
      const result = await rawInference(c.n_frames, heatmaps(c, []), tracker, rawParams(c.params), {
        sisters: sisterMaps(c),
        ...judged(c)
      });
      expect(maxDiff(result.tracks.x, dec(c.expected.tracks.x as Encoded))).toBe(0);
      expect(maxDiff(result.tracks.y, dec(c.expected.tracks.y as Encoded))).toBe(0);
    }
  });

  it('takes heatmaps from an async source', async () => {
    const c = caseNamed('sim_hard_crop');
    const sync = heatmaps(c, []);
    const { tracker, used } = replay(c);
    const result = await rawInference(
      c.n_frames,
      t => new Promise<Heatmap>(resolve => setTimeout(() => resolve(sync(t)), 0)),
      tracker,
      rawParams(c.params)
    );
    expect(used()).toBe(c.calls.length);
    expectTables(result, c.expected);
  });
});

describe('resuming RAW from a checkpoint', () => {
  /** The recorded call that starts at `first`, checked as `replay` checks it. */
  function byFirstFrame(c: RawCase): WindowTracker {
    return async (first, length, queries) => {
      const index = c.calls.findIndex(call => call.first === first);
      const replayer = replay({ ...c, calls: c.calls.slice(index) }).tracker;
      return replayer(first, length, queries);
    };
  }

  it.each(RAW_CASES)('%s: from every checkpoint, the uninterrupted tables', async (_name, c) => {
    const checkpoints: RawCheckpoint[] = [];
    const full = await rawInference(
      c.n_frames,
      heatmaps(c, []),
      replay(c).tracker,
      rawParams(c.params),
      {
        onCheckpoint: checkpoint => checkpoints.push(checkpoint()),
        sisters: sisterMaps(c),
        ...judged(c)
      }
    );
    expectTables(full, c.expected);
    expect(checkpoints.length).toBeGreaterThan(0);
    for (const checkpoint of checkpoints) {
      // Rows up to tCur are final: the full run's rows there.
      const done = Array.from(full.tracks.t).filter(t => t <= checkpoint.tCur).length;
      expect(checkpoint.tables.tracks.t.length).toBe(done);
      const reads: number[] = [];
      const resumed = await rawInference(
        c.n_frames,
        heatmaps(c, reads),
        byFirstFrame(c),
        rawParams(c.params),
        { resume: checkpoint, sisters: sisterMaps(c), ...judged(c) }
      );
      expectTables(resumed, c.expected);
      // Only the frames after the checkpoint are read again.
      expect(reads).toEqual(
        Array.from({ length: c.n_frames - checkpoint.tCur - 1 }, (_, i) => checkpoint.tCur + 1 + i)
      );
    }
  });

  it('refuses a checkpoint that does not fit', async () => {
    const c = caseNamed('sim_hard_crop');
    const checkpoints: RawCheckpoint[] = [];
    await rawInference(c.n_frames, heatmaps(c, []), replay(c).tracker, rawParams(c.params), {
      onCheckpoint: checkpoint => checkpoints.push(checkpoint())
    });
    const late = checkpoints[checkpoints.length - 1] as RawCheckpoint;
    await expect(
      rawInference(late.tCur, heatmaps(c, []), byFirstFrame(c), rawParams(c.params), {
        resume: late
      })
    ).rejects.toThrow(`cannot resume at frame ${late.tCur} of ${late.tCur}`);
    const early = { ...late, tCur: 0 };
    await expect(
      rawInference(c.n_frames, heatmaps(c, []), byFirstFrame(c), rawParams(c.params), {
        resume: early
      })
    ).rejects.toThrow(/does not fit frame 0/);
  });
});

function caseNamed(name: string): RawCase {
  const found = RAW_CASES.find(([, c]) => c.name === name);
  if (!found) {
    throw new Error(`no vector named ${name}`);
  }
  return found[1];
}

// --- cancellation -----------------------------------------------------------------------------

describe('cancelling RAW', () => {
  /** Every row of `partial` is in `full`, and every track of `full` is cut at framesDone. */
  function expectPrefix(partial: RawResult, full: RawResult, framesDone: number): void {
    const rows = (r: RawResult) =>
      Array.from(r.tracks.t, (t, i) =>
        [r.tracks.track_id[i], t, r.tracks.x[i], r.tracks.y[i]].join(' ')
      );
    const before = rows(full).filter(row => Number(row.split(' ')[1]) < framesDone);
    expect(rows(partial).sort()).toEqual(before.sort());
    const n = partial.lineage.track_id.length;
    expect(Array.from(partial.lineage.track_id)).toEqual(
      Array.from(full.lineage.track_id.subarray(0, n))
    );
    expect(Array.from(partial.lineage.parent_id)).toEqual(
      Array.from(full.lineage.parent_id.subarray(0, n))
    );
    for (const e of partial.lineage.end) {
      expect(e).toBeLessThan(framesDone);
    }
    expect(partial.windows).toEqual(full.windows.slice(0, partial.windows.length));
  }

  it('stops between windows and keeps the frames done', async () => {
    const c = caseNamed('lineage');
    const full = await rawInference(
      c.n_frames,
      heatmaps(c, []),
      replay(c).tracker,
      rawParams(c.params)
    );
    for (let stopAfter = 1; stopAfter < c.calls.length; stopAfter++) {
      const controller = new AbortController();
      const { tracker, used } = replay(c);
      const stopping: WindowTracker = async (first, length, queries) => {
        const out = await tracker(first, length, queries);
        if (used() === stopAfter) {
          controller.abort(new Error('the user pressed stop'));
        }
        return out;
      };
      const run = rawInference(c.n_frames, heatmaps(c, []), stopping, rawParams(c.params), {
        signal: controller.signal
      });
      const error = await run.then(
        () => null,
        (e: unknown) => e
      );
      expect(error).toBeInstanceOf(RawAbortError);
      const abort = error as RawAbortError;
      expect(abort.name).toBe('AbortError');
      expect(abort.message).toMatch(/^tracking was cancelled after \d+ of 60 frames$/);
      expect((abort.reason as Error).message).toBe('the user pressed stop');
      expect(used()).toBe(stopAfter);
      // The window that was running is finished: frames done reach the next window's start.
      expect(abort.framesDone).toBe((full.windows[stopAfter]?.first ?? 0) + 1);
      expect(abort.partial.windows).toHaveLength(stopAfter);
      expectPrefix(abort.partial, full, abort.framesDone);
    }
  });

  it('stops while the tracker runs, when the tracker gives up on the signal', async () => {
    const c = caseNamed('lineage');
    const controller = new AbortController();
    const { tracker } = replay(c);
    let calls = 0;
    const slow: WindowTracker = (first, length, queries, signal) => {
      calls += 1;
      if (calls < 3) {
        return tracker(first, length, queries);
      }
      return new Promise<WindowOutput>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new Error('session released')));
        setTimeout(() => controller.abort(), 0);
      });
    };
    const error = await rawInference(c.n_frames, heatmaps(c, []), slow, rawParams(c.params), {
      signal: controller.signal
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RawAbortError);
    const abort = error as RawAbortError;
    // Two windows done (0-10, 10-25): frames 0..25 are final.
    expect(abort.framesDone).toBe(26);
    expect(abort.partial.windows).toEqual([
      { first: 0, length: 16, queries: 3 },
      { first: 10, length: 16, queries: 4 }
    ]);
  });

  it('hears a stop that comes as a task while the tracker answers at once', async () => {
    // The browser's stop is a message to the worker; with every frame at hand nothing else
    // makes RAW wait, so it must let queued tasks run between windows.
    const c = caseNamed('lineage');
    const controller = new AbortController();
    const { tracker, used } = replay(c);
    const stopping: WindowTracker = (first, length, queries) => {
      if (used() === 0) {
        setTimeout(() => controller.abort(new Error('stop')), 0);
      }
      return tracker(first, length, queries);
    };
    const error = await rawInference(c.n_frames, heatmaps(c, []), stopping, rawParams(c.params), {
      signal: controller.signal
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RawAbortError);
    expect(used()).toBe(1);
    expect((error as RawAbortError).partial.windows).toHaveLength(1);
  });

  it('stops before anything when the signal is already aborted', async () => {
    const c = caseNamed('division');
    const reads: number[] = [];
    const error = await rawInference(c.n_frames, heatmaps(c, reads), replay(c).tracker, undefined, {
      signal: AbortSignal.abort()
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RawAbortError);
    expect((error as RawAbortError).framesDone).toBe(0);
    expect((error as RawAbortError).partial.lineage.track_id).toHaveLength(0);
    expect(reads).toEqual([]);
  });

  it('stops while skipping frames without cells', async () => {
    const c = caseNamed('nothing');
    const controller = new AbortController();
    const error = await rawInference(
      c.n_frames,
      heatmaps(c, []),
      replay(c).tracker,
      rawParams(c.params),
      {
        signal: controller.signal,
        onProgress: done => done === 3 && controller.abort()
      }
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RawAbortError);
    expect((error as RawAbortError).framesDone).toBe(3);
  });

  it('passes on a tracker failure that is not a cancellation', async () => {
    const c = caseNamed('division');
    const failing: WindowTracker = () => Promise.reject(new Error('WebGPU device lost'));
    await expect(
      rawInference(c.n_frames, heatmaps(c, []), failing, rawParams(c.params), {
        signal: new AbortController().signal
      })
    ).rejects.toThrow('WebGPU device lost');
  });
});

// --- contracts --------------------------------------------------------------------------------

describe('RAW contracts', () => {
  it.each([
    [24, 1, 12],
    [24, 8, 16],
    [24, 12, 24],
    [24, 23, 24],
    [16, 5, 10],
    [2, 1, 2],
    [3, 1, 2]
  ])('after a window of %i read for %i frames, calls %i frames (as Python)', (w, read, n) => {
    expect(callLength(w, read)).toBe(n);
  });

  it('has the Python defaults', () => {
    expect(DEFAULT_RAW_PARAMS).toEqual({
      window: 24,
      detection_threshold: 0.25,
      visibility_threshold: 0.5,
      division_threshold: 0.5,
      sister_threshold: 0.4,
      min_separation: 12,
      min_cycle: 5
    });
    expect(rawParams()).toEqual(DEFAULT_RAW_PARAMS);
    expect(rawParams({ window: 8 }).window).toBe(8);
  });

  it.each([
    [{ window: 1 }, 'window must be at least 2 frames, got 1'],
    [{ window: 0 }, 'window must be at least 2 frames, got 0'],
    [{ window: 2.5 }, 'window must be at least 2 frames, got 2.5'],
    [{ detection_threshold: 0 }, 'detection_threshold must be in (0, 1), got 0'],
    [{ detection_threshold: 1 }, 'detection_threshold must be in (0, 1), got 1'],
    [{ visibility_threshold: -0.1 }, 'visibility_threshold must be in (0, 1), got -0.1'],
    [{ division_threshold: 1.5 }, 'division_threshold must be in (0, 1), got 1.5'],
    [{ sister_threshold: 0 }, 'sister_threshold must be in (0, 1), got 0'],
    [{ min_separation: 0 }, 'min_separation must be positive, got 0'],
    [{ min_separation: -3 }, 'min_separation must be positive, got -3'],
    [{ min_cycle: 0 }, 'min_cycle must be a whole number of frames >= 1, got 0'],
    [{ min_cycle: 2.5 }, 'min_cycle must be a whole number of frames >= 1, got 2.5']
  ])('rejects %j', (overrides, message) => {
    expect(() => rawParams(overrides as Partial<RawParams>)).toThrow(message);
  });

  it('needs two frames', async () => {
    const c = caseNamed('nothing');
    await expect(rawInference(1, heatmaps(c, []), replay(c).tracker)).rejects.toThrow(
      'tracking needs at least 2 frames, got 1'
    );
  });

  it('checks the shape of what the tracker returns', async () => {
    const c = caseNamed('division');
    const short: WindowTracker = async (_first, length, queries) => ({
      points: new Float32Array(length * (queries.length / 3) * 6 - 1),
      visibility: new Float32Array(length * (queries.length / 3) * 3)
    });
    await expect(
      rawInference(c.n_frames, heatmaps(c, []), short, rawParams(c.params))
    ).rejects.toThrow(
      'the tracker returned 287 point and 144 visibility values for 24 frames and 2 queries; ' +
        'expected 288 and 144'
    );
  });

  it('asks about (0, x, y) rows', async () => {
    const c = caseNamed('division');
    const seen: Float32Array[] = [];
    const { tracker } = replay(c);
    await rawInference(
      c.n_frames,
      heatmaps(c, []),
      (first, length, queries) => {
        seen.push(queries.slice());
        return tracker(first, length, queries);
      },
      rawParams(c.params)
    );
    expect(seen).toHaveLength(2);
    for (const q of seen) {
      expect(q.length % 3).toBe(0);
      for (let i = 0; i < q.length; i += 3) {
        expect(q[i]).toBe(0);
      }
    }
  });
});

// --- heatmap peaks ----------------------------------------------------------------------------

describe('findPeaks against the Python reference', () => {
  const cases = load<{ cases: PeakCase[] }>('peaks.json').cases;

  it.each(cases.map((c): [string, PeakCase] => [c.name, c]))('%s', (_name, c) => {
    const [height, width] = c.heatmap.shape as [number, number];
    const peaks = findPeaks({ data: f32(c.heatmap), height, width }, c.threshold, c.min_separation);
    const expected = f32(c.expected);
    expect(peaks.length).toBe(expected.length);
    expect(maxDiff(peaks, expected)).toBe(0);
  });

  it('covers plateaus, ties, borders and non-finite values', () => {
    const names = cases.map(c => c.name);
    for (const name of ['plateau_2x2', 'diagonal_pair', 'equal_heights', 'border', 'non_finite']) {
      expect(names).toContain(name);
    }
  });

  it('rejects a heatmap of the wrong size', () => {
    expect(() => findPeaks({ data: new Float32Array(11), height: 3, width: 4 }, 0.5, 1)).toThrow(
      'heatmap of 11 values is not 3 x 4'
    );
  });

  it('puts a pixel centre at model coordinates', () => {
    const data = new Float32Array(20 * 30);
    data[5 * 30 + 7] = 0.8;
    // map (y, x) = (5, 7) -> model ((5 + 0.5) * 4 - 0.5, (7 + 0.5) * 4 - 0.5) = (21.5, 29.5)
    expect(Array.from(findPeaks({ data, height: 20, width: 30 }, 0.5, 1))).toEqual([
      29.5,
      21.5,
      Math.fround(0.8)
    ]);
  });
});
