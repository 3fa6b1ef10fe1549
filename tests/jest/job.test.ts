/**
 * The browser's side of a tracking job: RAW's tables cut into comm-sized parts and put together
 * again, the schema check of what the kernel sends, and the progress bar's words.
 */
import { RawResult } from '../../src/engine/raw';
import {
  MAX_MESSAGE_BYTES,
  TablesAssembly,
  checkFromKernel,
  encodeTables
} from '../../src/job/messages';
import {
  IJobState,
  defineJobProgress,
  describeJob,
  JobProgress
} from '../../src/widget/job-progress';

function rawTables(rows: number): RawResult {
  const tracks = {
    track_id: Int32Array.from({ length: rows }, (_, i) => 1 + Math.floor(i / 10)),
    t: Int32Array.from({ length: rows }, (_, i) => i % 10),
    x: Float64Array.from({ length: rows }, (_, i) => i * 0.5 + 0.125),
    y: Float64Array.from({ length: rows }, (_, i) => 1000 - i * 0.25),
    visibility: Float32Array.from({ length: rows }, (_, i) => (i % 100) / 100)
  };
  const n = Math.ceil(rows / 10);
  return {
    tracks,
    lineage: {
      track_id: Int32Array.from({ length: n }, (_, i) => i + 1),
      start: new Int32Array(n),
      end: Int32Array.from({ length: n }, () => 9),
      parent_id: new Int32Array(n)
    },
    divisions: {
      parent_id: Int32Array.of(1),
      t: Int32Array.of(5),
      daughter_a: Int32Array.of(2),
      daughter_b: Int32Array.of(3),
      score: Float64Array.of(0.75)
    },
    sisters: {
      t: Int32Array.of(5, 5, 6),
      xa: Float32Array.of(1.5, 40.25, 2),
      ya: Float32Array.of(2.5, 41.75, 3),
      xb: Float32Array.of(7.5, 48, 9),
      yb: Float32Array.of(8.5, 49, 10),
      score: Float32Array.of(0.875, 0.125, 0.5)
    },
    windows: [
      { first: 0, length: 5, queries: 3 },
      { first: 4, length: 6, queries: 4 }
    ]
  };
}

describe('tables over the comm', () => {
  it('travel in parts under the message limit and come back whole', () => {
    const raw = rawTables(600_000); // about 17 MB of tracks
    const parts = encodeTables(raw, 7, 'resume', 9);
    expect(parts.length).toBeGreaterThan(2);
    for (const [message, buffers] of parts) {
      expect(buffers.reduce((s, b) => s + b.byteLength, 0)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      expect(() => checkFromKernel(message)).not.toThrow();
    }
    const assembly = new TablesAssembly((parts[0] as (typeof parts)[0])[0]);
    for (const [message, buffers] of [...parts].reverse()) {
      // As the comm hands them over: DataViews on the received bytes.
      assembly.add(
        message,
        buffers.map(b => new DataView(b))
      );
    }
    expect(assembly.complete).toBe(true);
    const { tables, tCur } = assembly.checkpoint();
    expect(tCur).toBe(9);
    expect(tables.tracks.x).toEqual(raw.tracks.x);
    expect(tables.tracks.visibility).toEqual(raw.tracks.visibility);
    expect(tables.lineage.end).toEqual(raw.lineage.end);
    expect(tables.divisions.score).toEqual(raw.divisions.score);
    expect(tables.sisters).toEqual(raw.sisters);
    expect(tables.windows).toEqual(raw.windows);
  });

  it('refuse parts that repeat, or columns that do not fit', () => {
    const [[message, buffers]] = encodeTables(rawTables(20), 1, 'resume', 9) as [
      [Parameters<TablesAssembly['add']>[0], ArrayBuffer[]]
    ];
    const assembly = new TablesAssembly(message);
    assembly.add(message, buffers);
    expect(() => assembly.add(message, buffers)).toThrow('tables 1: part 0 again or out of range');
    const short = new TablesAssembly(message);
    expect(() => short.add(message, buffers.slice(1))).toThrow(/columns, \d+ buffers/);
    const liar = new TablesAssembly(message);
    const wrong = {
      ...message,
      columns: message.columns.map(c => ({ ...c, dtype: 'float32' as const }))
    };
    expect(() => liar.add(wrong, buffers)).toThrow(
      'tables: tracks.track_id is not a float32 column'
    );
  });
});

describe('messages from the kernel', () => {
  it('are checked against the shared schema', () => {
    expect(checkFromKernel({ type: 'start', resume_seq: null })).toEqual({
      type: 'start',
      resume_seq: null
    });
    expect(() => checkFromKernel({ type: 'start' })).toThrow(
      'the kernel sent a malformed "start" message'
    );
    expect(() =>
      checkFromKernel({ type: 'reply', id: 1, ok: true, first: 0, count: 2, dtype: 'complex64' })
    ).toThrow(/malformed "reply" message/);
    expect(() => checkFromKernel({ type: 'cancel', reason: 'x', extra: 1 })).toThrow();
    expect(() => checkFromKernel('start')).toThrow();
  });
});

describe('the progress bar', () => {
  const base: IJobState = {
    status: 'running',
    message: '',
    frames_done: 40,
    n_frames: 92,
    cells: 31,
    backend: 'webgpu',
    eta_s: 75,
    stage: 'tracking'
  };

  it('says how far the job is, on what, and for how long still', () => {
    expect(describeJob(base)).toBe('40/92 frames · 31 cells · WebGPU · about 1 min 15 s left');
    expect(describeJob({ ...base, status: 'waiting' })).toBe('waiting for the tracking engine…');
    expect(describeJob({ ...base, frames_done: 0, stage: 'starting' })).toBe(
      'starting the tracking engine: loading the runtime and the model…'
    );
    expect(describeJob({ ...base, status: 'done', frames_done: 92, backend: 'wasm' })).toBe(
      'done: 92/92 frames · 31 cells · WebAssembly'
    );
    expect(
      describeJob({ ...base, status: 'failed', message: 'the browser stopped answering' })
    ).toBe('failed after 40/92 frames: the browser stopped answering');
    expect(describeJob({ ...base, cells: 1, eta_s: -1 })).toBe('40/92 frames · 1 cell · WebGPU');
  });

  it('renders an accessible bar', async () => {
    defineJobProgress();
    const bar = document.createElement('cellpoint-job-progress') as JobProgress;
    bar.state = base;
    document.body.appendChild(bar);
    await bar.updateComplete;
    const progress = bar.shadowRoot?.querySelector('progress');
    expect(progress?.getAttribute('aria-label')).toBe('tracking progress');
    expect(progress?.value).toBe(40);
    expect(progress?.max).toBe(92);
    expect(bar.shadowRoot?.querySelector('[role=status]')?.textContent).toContain('31 cells');
    bar.state = { ...base, status: 'failed', message: 'x' };
    await bar.updateComplete;
    expect(bar.getAttribute('ended')).toBe('failed');
  });
});
