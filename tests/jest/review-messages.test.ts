import { decodeTable } from '../../src/job/messages';
import { checkFromKernel } from '../../src/widget/review/messages';

describe('messages from the review viewer kernel side', () => {
  it('are checked against the shared contract', () => {
    const reply = { type: 'reply', id: 3, ok: true, t: 2, dtype: 'int16', shape: [4, 5] };
    expect(checkFromKernel(reply)).toEqual(reply);
    expect(checkFromKernel({ type: 'reply', id: 4, ok: false, error: 'nothing to undo' })).toEqual({
      type: 'reply',
      id: 4,
      ok: false,
      error: 'nothing to undo'
    });
    const growth = {
      type: 'grow',
      since: 3,
      tracks: {},
      lineage: {},
      divisions: { status: [] },
      buffer_paths: [['tracks', 't']]
    };
    expect(checkFromKernel(growth)).toEqual(growth);
    expect(() => checkFromKernel({ type: 'reply', id: 5, ok: true, dtype: 'complex64' })).toThrow(
      'the kernel sent a malformed "reply" message'
    );
    expect(() => checkFromKernel({ type: 'grow', since: 3 })).toThrow('malformed "grow" message');
    expect(() => checkFromKernel({ type: 'frames' })).toThrow();
  });
});

describe('tables from the kernel', () => {
  it('read typed columns in the wire dtypes, and leave other columns as they are', () => {
    const ids = new Int32Array([1, 1, 2]);
    const xs = new Float64Array([0.5, 1.5, 9]);
    const buffer = new ArrayBuffer(4 + ids.byteLength); // a view that does not start at 0
    new Int32Array(buffer, 4).set(ids);
    const tracks = decodeTable('tracks', {
      track_id: new DataView(buffer, 4, ids.byteLength),
      x: new DataView(xs.buffer),
      y: [1, 2, 3]
    }) as Record<string, number[]>;
    expect(tracks.track_id).toEqual([1, 1, 2]);
    expect(tracks.x).toEqual([0.5, 1.5, 9]);
    expect(tracks.y).toEqual([1, 2, 3]);
    const divisions = decodeTable('divisions', { status: ['accepted'] });
    expect(divisions).toEqual({ status: ['accepted'] });
  });
});
