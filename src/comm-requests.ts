/**
 * Requests from a widget model to the kernel, answered one to one: every request carries an
 * `id`, and the kernel's reply repeats it, `{type: 'reply', id, ok: true, ...}` with the answer's
 * buffers or `{type: 'reply', id, ok: false, error}`. One envelope for every cellpoint widget
 * (the job's frames, the review viewer's frames and decisions); the kernel's side is
 * `cellpoint.widgets.answer`.
 */

import { JSONObject } from '@lumino/coreutils';

import { Buffers, bytesOf } from './comm-buffers';

/** A reply of the kernel, as it came. */
export interface IReply extends JSONObject {
  type: 'reply';
  id: number;
  ok: boolean;
}

export interface IAnswer {
  reply: IReply;
  buffers: ArrayBuffer[];
}

interface IWaiting {
  what: string;
  resolve: (answer: IAnswer) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Whether a kernel message is a reply (to hand to `KernelRequests.answer`). */
export function isReply(content: unknown): content is IReply {
  const c = content as Partial<IReply> | null;
  return c?.type === 'reply' && typeof c.id === 'number' && typeof c.ok === 'boolean';
}

export class KernelRequests {
  /**
   * `send` posts a message to the kernel; a request unanswered after `timeoutMs` fails saying
   * so (0: requests wait as long as it takes).
   */
  constructor(
    private readonly send: (content: JSONObject, buffers: ArrayBuffer[]) => void,
    private readonly timeoutMs = 0
  ) {}

  /** Sends `content` (its `type` names the request) with a new id; resolves with the reply. */
  ask(content: JSONObject & { type: string }, buffers: ArrayBuffer[] = []): Promise<IAnswer> {
    const id = ++this._lastId;
    return new Promise<IAnswer>((resolve, reject) => {
      const timer =
        this.timeoutMs > 0
          ? setTimeout(
              () =>
                this._settle(id, waiting =>
                  waiting.reject(
                    new Error(
                      `the kernel did not answer (${waiting.what}) within ` +
                        `${this.timeoutMs / 1000} s: is it busy running a cell?`
                    )
                  )
                ),
              this.timeoutMs
            )
          : undefined;
      this._waiting.set(id, { what: content.type, resolve, reject, timer });
      try {
        this.send({ ...content, id }, buffers);
      } catch (error) {
        this._settle(id, waiting => waiting.reject(error as Error));
      }
    });
  }

  /** Settles the request the reply names; replies to no open request are ignored. */
  answer(reply: IReply, buffers: Buffers = []): void {
    this._settle(reply.id, waiting => {
      if (reply.ok) {
        waiting.resolve({ reply, buffers: buffers.map(bytesOf) });
      } else {
        const error = typeof reply.error === 'string' ? reply.error : 'the kernel refused';
        waiting.reject(new Error(error));
      }
    });
  }

  /** Fails every open request (the job stopped, the comm closed). */
  failAll(reason: string): void {
    for (const id of [...this._waiting.keys()]) {
      this._settle(id, waiting => waiting.reject(new Error(reason)));
    }
  }

  /** How many requests wait for their reply. */
  get open(): number {
    return this._waiting.size;
  }

  private _settle(id: number, settle: (waiting: IWaiting) => void): void {
    const waiting = this._waiting.get(id);
    if (waiting) {
      this._waiting.delete(id);
      clearTimeout(waiting.timer);
      settle(waiting);
    }
  }

  private _lastId = 0;
  private readonly _waiting = new Map<number, IWaiting>();
}
