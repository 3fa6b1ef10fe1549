/**
 * `<cellpoint-review-divisions>`: the review viewer's division panel. The divisions, least sure
 * first; for the one under review its mother before and daughters after, cropped side by side;
 * accept, reject, a frame earlier or later, relink (pickers of the tracks that could be), undo
 * and redo. Rendered into the viewer's shadow root; every button says what the user asked in a
 * `division-action` event, and the viewer asks the kernel.
 */

import { LitElement, html } from 'lit';

import { BUILTIN_LAYERS, FrameBitmap, IViewTransform, drawScene } from './draw';
import { ColormapName, Frame, percentileLimits } from './image';
import { trackColour } from './palette';
import { DivisionStatus, ICandidate, IDivision, ReviewTables } from './tables';

const CROP_PX = 120;

/** The mother and daughters a relink would make. */
export interface IRelink {
  mother: number;
  a: number;
  b: number;
}

export type DivisionAction =
  | { kind: 'go'; index: number }
  | { kind: 'decide'; status: DivisionStatus }
  | { kind: 'shift'; frames: -1 | 1 }
  | { kind: 'undo' }
  | { kind: 'redo' }
  | { kind: 'pick'; relink: IRelink }
  | { kind: 'relink' };

export class ReviewDivisionPanel extends LitElement {
  static properties = {
    tables: { attribute: false },
    current: { attribute: false },
    editable: { attribute: false },
    undoDepth: { attribute: false },
    redoDepth: { attribute: false },
    relink: { attribute: false }
  };

  tables: ReviewTables = new ReviewTables({}, {}, {});
  /** Index of the division under review, in review order. */
  current = 0;
  editable = true;
  undoDepth = 0;
  redoDepth = 0;
  relink: IRelink = { mother: 0, a: 0, b: 0 };

  protected createRenderRoot(): HTMLElement {
    return this;
  }

  /** Draws the crops of the division under review from `frame(t)`, as the view shows them. */
  async drawCrops(
    frame: (t: number) => Promise<Frame | undefined>,
    limits: [number, number] | undefined,
    colormap: ColormapName
  ): Promise<void> {
    const d = this.tables.divisions[this.current];
    if (!d) {
      return;
    }
    const index = this.tables.index;
    const before = index.position(d.parentId, d.t - 1);
    const after = d.daughters
      .map(id => index.position(id, d.t))
      .filter((p): p is [number, number] => p !== undefined);
    const centre = before ?? after[0];
    if (!centre) {
      return;
    }
    const [a, b] = after;
    const spread = a && b ? Math.hypot(a[0] - b[0], a[1] - b[1]) : 0;
    const side = Math.max(48, spread * 3);
    for (const [cls, t, ids] of [
      ['mother', d.t - 1, [d.parentId]],
      ['daughters', d.t, d.daughters]
    ] as ['mother' | 'daughters', number, number[]][]) {
      const canvas = this.querySelector(`canvas.${cls}`) as HTMLCanvasElement | null;
      const image = await frame(t);
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx || !image) {
        continue;
      }
      const bitmap = this._cropBitmaps[cls];
      bitmap.update(image, limits ?? percentileLimits(image), colormap);
      const zoom = canvas.width / side;
      const view: IViewTransform = {
        zoom,
        panX: canvas.width / 2 - centre[1] * zoom,
        panY: canvas.height / 2 - centre[0] * zoom
      };
      drawScene(
        ctx,
        {
          t,
          index,
          layers: BUILTIN_LAYERS.map(l => ({ ...l })),
          extraLayers: [],
          transform: view,
          tailLength: 0,
          selected: 0,
          hovered: 0,
          pointRadius: 0
        },
        bitmap
      );
      ctx.setTransform(zoom, 0, 0, zoom, view.panX, view.panY);
      ctx.lineWidth = 2 / zoom;
      for (const id of ids) {
        const p = index.position(id, t);
        if (p) {
          ctx.strokeStyle = trackColour(id);
          ctx.beginPath();
          ctx.arc(p[1], p[0], 6 / zoom, 0, 2 * Math.PI);
          ctx.stroke();
        }
      }
    }
  }

  render(): unknown {
    const divisions = this.tables.divisions;
    const division: IDivision | undefined = divisions[this.current];
    const pending = divisions.filter(d => d.status === 'proposed').length;
    return html`<fieldset class="divisions-box">
      <legend>Divisions (${divisions.length}, ${pending} to review)</legend>
      <div class="row">
        <button
          class="undo"
          ?disabled=${!this.editable || this.undoDepth === 0}
          @click=${() => this._ask({ kind: 'undo' })}
          title="Undo the last decision (Ctrl+Z)"
        >
          Undo
        </button>
        <button
          class="redo"
          ?disabled=${!this.editable || this.redoDepth === 0}
          @click=${() => this._ask({ kind: 'redo' })}
          title="Redo (Ctrl+Shift+Z)"
        >
          Redo
        </button>
      </div>
      <div class="divisions">
        <ul role="listbox" aria-label="Divisions, least sure first">
          ${divisions.map(
            (d, i) =>
              html`<li
                role="option"
                aria-selected=${i === this.current ? 'true' : 'false'}
                data-parent=${d.parentId}
                data-status=${d.status}
                @click=${() => this._ask({ kind: 'go', index: i })}
              >
                <span class="swatch" style="background:${trackColour(d.parentId)}"></span>
                t ${d.t}: ${d.parentId} → ${d.daughters[0]}, ${d.daughters[1]} · score
                ${d.score.toFixed(2)} ·
                <strong>${d.status}</strong>
              </li>`
          )}
        </ul>
      </div>
      ${division ? this._renderReview(division) : html`<p>No divisions were found.</p>`}
    </fieldset>`;
  }

  private _renderReview(division: IDivision): unknown {
    const [a, b] = division.daughters;
    return html`<div class="crops">
        <figure>
          <canvas
            class="mother"
            width=${CROP_PX}
            height=${CROP_PX}
            role="img"
            aria-label="Mother, track ${division.parentId}, at frame ${division.t - 1}"
          ></canvas>
          <figcaption>mother ${division.parentId}, t ${division.t - 1}</figcaption>
        </figure>
        <figure>
          <canvas
            class="daughters"
            width=${CROP_PX}
            height=${CROP_PX}
            role="img"
            aria-label="Daughters, tracks ${a} and ${b}, at frame ${division.t}"
          ></canvas>
          <figcaption>daughters ${a}, ${b}, t ${division.t}</figcaption>
        </figure>
      </div>
      <div class="row">
        ${this._button('accept', 'Accept', 'Accept (a)', { kind: 'decide', status: 'accepted' })}
        ${this._button('reject', 'Reject', 'Reject (r)', { kind: 'decide', status: 'rejected' })}
        ${this._button(
          'earlier',
          'Earlier',
          'A frame earlier: the mother ends a frame sooner ([)',
          {
            kind: 'shift',
            frames: -1
          }
        )}
        ${this._button('later', 'Later', 'A frame later: the mother lasts a frame longer (])', {
          kind: 'shift',
          frames: 1
        })}
        <button
          @click=${() => this._ask({ kind: 'go', index: this.current - 1 })}
          title="Previous division (k)"
        >
          Previous
        </button>
        <button
          @click=${() => this._ask({ kind: 'go', index: this.current + 1 })}
          title="Next division (j)"
        >
          Next
        </button>
      </div>
      <div class="row relink">
        <label
          >mother
          ${this._picker('mother', 'mother-pick', 'Mother', this.tables.motherCandidates(division))}</label
        >
        <label
          >daughters
          ${this._picker('a', 'daughter-a', 'First daughter', this.tables.daughterCandidates(division))}</label
        >
        ${this._picker('b', 'daughter-b', 'Second daughter', this.tables.daughterCandidates(division))}
        ${this._button('relink-apply', 'Relink', 'Relink (l)', { kind: 'relink' })}
      </div>`;
  }

  /** A decision's button, off while tracking still runs. */
  private _button(cls: string, label: string, title: string, action: DivisionAction): unknown {
    return html`<button
      class=${cls}
      ?disabled=${!this.editable}
      @click=${() => this._ask(action)}
      title=${title}
    >
      ${label}
    </button>`;
  }

  /** A select of candidate tracks that sets one part of the relink. */
  private _picker(
    part: keyof IRelink,
    cls: string,
    label: string,
    candidates: ICandidate[]
  ): unknown {
    return html`<select
      class=${cls}
      aria-label=${label}
      @change=${(e: Event) =>
        this._ask({
          kind: 'pick',
          relink: { ...this.relink, [part]: Number((e.target as HTMLSelectElement).value) }
        })}
    >
      ${candidates.map(
        c =>
          html`<option value=${c.trackId} .selected=${c.trackId === this.relink[part]}>
            track ${c.trackId}${Number.isFinite(c.distance) ? ` (${c.distance.toFixed(0)} px)` : ''}
          </option>`
      )}
    </select>`;
  }

  private _ask(action: DivisionAction): void {
    this.dispatchEvent(new CustomEvent<DivisionAction>('division-action', { detail: action }));
  }

  // The crops' frames, colour-mapped once and kept while the division under review stays.
  private _cropBitmaps = {
    mother: new FrameBitmap(document.createElement('canvas')),
    daughters: new FrameBitmap(document.createElement('canvas'))
  };
}
