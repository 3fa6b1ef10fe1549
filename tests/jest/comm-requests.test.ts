import { JSONObject } from '@lumino/coreutils';

import { IReply, KernelRequests, isReply } from '../../src/comm-requests';

function kernel(timeoutMs = 0): { requests: KernelRequests; sent: JSONObject[] } {
  const sent: JSONObject[] = [];
  const requests = new KernelRequests(content => sent.push(content), timeoutMs);
  return { requests, sent };
}

const reply = (id: number, ok: boolean, extra: JSONObject = {}): IReply => ({
  type: 'reply',
  id,
  ok,
  ...extra
});

describe('KernelRequests', () => {
  it('gives each request an id and settles it by the reply that repeats it', async () => {
    const { requests, sent } = kernel();
    const first = requests.ask({ type: 'frame', t: 3 });
    const second = requests.ask({ type: 'frame', t: 4 });
    expect(sent).toEqual([
      { type: 'frame', t: 3, id: 1 },
      { type: 'frame', t: 4, id: 2 }
    ]);
    const bytes = new Uint8Array([1, 2, 3]);
    requests.answer(reply(2, true, { shape: [1, 3] }), [new DataView(bytes.buffer, 0, 3)]);
    requests.answer(reply(1, false, { error: 'frame 3 is not in the stack' }));
    const answer = await second;
    expect(answer.reply.shape).toEqual([1, 3]);
    expect(new Uint8Array(answer.buffers[0] as ArrayBuffer)).toEqual(bytes);
    await expect(first).rejects.toThrow('frame 3 is not in the stack');
    expect(requests.open).toBe(0);
  });

  it('ignores replies to requests it does not hold', () => {
    const { requests } = kernel();
    expect(() => requests.answer(reply(9, true))).not.toThrow();
    expect(isReply(reply(9, true))).toBe(true);
    expect(isReply({ type: 'frames', id: 1 })).toBe(false);
  });

  it('fails a request the kernel leaves unanswered, saying what it was', async () => {
    jest.useFakeTimers();
    try {
      const { requests } = kernel(30_000);
      const asked = requests.ask({ type: 'status' });
      jest.advanceTimersByTime(30_001);
      await expect(asked).rejects.toThrow(
        'the kernel did not answer (status) within 30 s: is it busy running a cell?'
      );
      expect(requests.open).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('fails every open request when told to, and a request that cannot be sent', async () => {
    const { requests } = kernel();
    const asked = [requests.ask({ type: 'undo' }), requests.ask({ type: 'redo' })];
    requests.failAll('the kernel went away');
    for (const request of asked) {
      await expect(request).rejects.toThrow('the kernel went away');
    }
    const dead = new KernelRequests(() => {
      throw new Error('the comm is closed');
    });
    await expect(dead.ask({ type: 'frame' })).rejects.toThrow('the comm is closed');
    expect(dead.open).toBe(0);
  });
});
