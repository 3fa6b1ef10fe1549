import { FrameCache } from '../../src/widget/review/frame-cache';
import { Frame, frameView } from '../../src/widget/review/image';

function frame(t: number): Frame {
  return frameView(new Uint8Array([t]), 1, 1);
}

describe('FrameCache', () => {
  it('fetches a frame once, however often and however soon it is asked for', async () => {
    const asked: number[] = [];
    const cache = new FrameCache(async t => {
      asked.push(t);
      return frame(t);
    }, 4);
    const [a, b] = await Promise.all([cache.ensure(2), cache.ensure(2)]);
    expect(a).toBe(b);
    expect(await cache.ensure(2)).toBe(a);
    expect(cache.get(2)).toBe(a);
    expect(asked).toEqual([2]);
  });

  it('keeps the most recently used frames', async () => {
    const asked: number[] = [];
    const cache = new FrameCache(async t => {
      asked.push(t);
      return frame(t);
    }, 2);
    await cache.ensure(0);
    await cache.ensure(1);
    await cache.ensure(0); // 0 is now the most recent
    await cache.ensure(2); // 1 goes
    expect([cache.get(0), cache.get(1), cache.get(2)].map(f => f !== undefined)).toEqual([
      true,
      false,
      true
    ]);
    await cache.ensure(1);
    expect(asked).toEqual([0, 1, 2, 1]);
  });

  it('asks again for a frame whose fetch failed', async () => {
    let fail = true;
    const cache = new FrameCache(async t => {
      if (fail) {
        throw new Error(`frame ${t} is not here`);
      }
      return frame(t);
    }, 2);
    await expect(cache.ensure(5)).rejects.toThrow('frame 5 is not here');
    expect(cache.get(5)).toBeUndefined();
    fail = false;
    expect((await cache.ensure(5)).get(0, 0)).toBe(5);
  });
});
