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
    const growth = { type: 'grow', since: 3, tracks: {}, lineage: {}, divisions: {} };
    expect(checkFromKernel(growth)).toEqual(growth);
    expect(() => checkFromKernel({ type: 'reply', id: 5, ok: true, dtype: 'complex64' })).toThrow(
      'the kernel sent a malformed "reply" message'
    );
    expect(() => checkFromKernel({ type: 'grow', since: 3 })).toThrow('malformed "grow" message');
    expect(() => checkFromKernel({ type: 'frames' })).toThrow();
  });
});
