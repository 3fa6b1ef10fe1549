/**
 * The review viewer's frames: fetched once from their source, the most recently used kept.
 * Two asks for a frame still on its way share one fetch.
 */

import { Frame } from './image';

export class FrameCache {
  constructor(
    private readonly fetch: (t: number) => Promise<Frame>,
    private readonly capacity: number
  ) {}

  /** Frame t if it is here, without fetching it. */
  get(t: number): Frame | undefined {
    return this._frames.get(t);
  }

  /** Frame t, fetched if need be; a fetch that fails rejects, and is tried again next time. */
  async ensure(t: number): Promise<Frame> {
    const cached = this._frames.get(t);
    if (cached) {
      this._frames.delete(t); // most recently used last
      this._frames.set(t, cached);
      return cached;
    }
    let pending = this._pending.get(t);
    if (!pending) {
      pending = this.fetch(t).then(frame => {
        this._frames.set(t, frame);
        while (this._frames.size > this.capacity) {
          this._frames.delete(this._frames.keys().next().value as number);
        }
        return frame;
      });
      this._pending.set(t, pending);
      const settled = (): boolean => this._pending.delete(t);
      pending.then(settled, settled);
    }
    return pending;
  }

  private _frames = new Map<number, Frame>();
  private _pending = new Map<number, Promise<Frame>>();
}
