/**
 * `<cellpoint-review>`: the review viewer. Frames on a canvas (contrast, colour map, zoom,
 * pan), a time slider with play and keyboard stepping, points coloured by track with tails and
 * labels on hover, and the lineage tree linked to the image; beside them its parts, each an
 * element of its own: the layer list (layer-list.ts), the divisions to review (division-panel.ts)
 * and the export (export-panel.ts). It holds the view's state and the keys, and answers its
 * parts' events.
 *
 * It reads frames and sends decisions through an `IReviewSource` (the kernel, in a notebook);
 * the tables it shows are set by its owner, so a decision shows once the kernel has made it.
 */

import { LitElement, PropertyValues, css, html, nothing } from 'lit';

import { jupyterText } from '../styles';
import { DivisionAction, IRelink, ReviewDivisionPanel } from './division-panel';
import {
  BUILTIN_LAYERS,
  FrameBitmap,
  ILayerState,
  IReviewLayer,
  IViewTransform,
  drawScene,
  fitTransform,
  toImage,
  zoomAbout
} from './draw';
import { ExportFormat, ReviewExportPanel } from './export-panel';
import { FrameCache } from './frame-cache';
import { Frame, Pixels, frameView, percentileLimits } from './image';
import { ILayerChange, ReviewLayerList } from './layer-list';
import { layoutLineage } from './lineage-layout';
import { lineageTree } from './lineage-tree';
import { DivisionStatus, IDivision, ReviewTables } from './tables';

export type { ExportFormat } from './export-panel';

export interface IFrameData {
  data: Pixels;
  height: number;
  width: number;
}

/** Where frames come from and decisions go: the kernel, in a notebook. */
export interface IReviewSource {
  frame(t: number): Promise<IFrameData>;
  setStatus(parentId: number, status: DivisionStatus): Promise<void>;
  relink(parentId: number, mother: number, daughters: [number, number]): Promise<void>;
  /** Moves a division one frame earlier (-1) or later (+1): the mother's end with it. */
  shift(parentId: number, frames: -1 | 1): Promise<void>;
  /** Undoes the last decision, or redoes the last one undone. */
  undo(): Promise<void>;
  redo(): Promise<void>;
  exportAs(format: ExportFormat, path: string, png?: ArrayBuffer): Promise<string>;
}

/** The view's state that outlives it (saved with the notebook's widget state). */
export interface IViewState {
  t: number;
  selected: number;
  tailLength: number;
  contrast: number[];
  layers: ILayerState[];
}

const FRAME_CACHE = 24;
const PLAY_FPS = 8;
const CANVAS_WIDTH = 560;
const CANVAS_HEIGHT = 420;
const POINT_RADIUS = 3.5;

/** A limit as a person reads it: five significant digits, no float noise. */
function shortNumber(value: number | undefined): string {
  return value === undefined ? '' : String(Number(value.toPrecision(5)));
}

export class ReviewViewer extends LitElement {
  static properties = {
    tables: { attribute: false },
    shape: { attribute: false },
    view: { attribute: false },
    extraLayers: { attribute: false },
    editable: { attribute: false },
    note: { attribute: false },
    undoDepth: { attribute: false },
    redoDepth: { attribute: false },
    _current: { state: true },
    _relink: { state: true },
    _status: { state: true },
    _playing: { state: true },
    _limits: { state: true },
    _hovered: { state: true }
  };

  /** The tables shown: set again by the owner whenever the kernel's change. */
  tables: ReviewTables = new ReviewTables({}, {}, {});
  /** (T, H, W) of the frames. */
  shape: number[] = [0, 0, 0];
  view: IViewState = { t: 0, selected: 0, tailLength: 10, contrast: [], layers: [] };
  extraLayers: IReviewLayer[] = [];
  /** False while tracking still runs: the divisions are shown, not yet decided. */
  editable = true;
  /** What the viewer shows, when it is not the final result (tracking's progress). */
  note = '';
  /** How many decisions the kernel can undo, and redo. */
  undoDepth = 0;
  redoDepth = 0;
  source: IReviewSource | undefined;
  /** Milliseconds of each redraw of the canvas, the latest last (the benchmark reads them). */
  readonly drawTimes: number[] = [];

  static styles = [
    jupyterText,
    css`
      :host {
        outline: none;
      }
      :host(:focus-visible) {
        outline: 2px solid var(--jp-brand-color1, #1976d2);
      }
      .bar,
      .row {
        display: flex;
        flex-wrap: wrap;
        gap: 6px;
        align-items: center;
        margin: 4px 0;
      }
      .main,
      .panels {
        display: flex;
        flex-wrap: wrap;
        gap: 10px;
        align-items: flex-start;
      }
      .panels > * {
        flex: 1 1 300px;
        max-width: 480px;
      }
      canvas.view {
        background: #000;
        cursor: crosshair;
        touch-action: none;
      }
      fieldset {
        border: 1px solid var(--jp-border-color2, #ccc);
        margin: 0;
        padding: 4px 8px;
      }
      legend {
        font-weight: 600;
      }
      .divisions {
        max-height: 180px;
        overflow-y: auto;
      }
      .divisions li {
        cursor: pointer;
        padding: 1px 4px;
        list-style: none;
      }
      .divisions ul {
        margin: 0;
        padding: 0;
      }
      .divisions li[aria-selected='true'] {
        background: var(--jp-brand-color3, #bbdefb);
      }
      .crops {
        display: flex;
        gap: 6px;
      }
      .crops figure {
        margin: 0;
        text-align: center;
      }
      .crops canvas {
        background: #000;
        width: 120px;
        height: 120px;
        image-rendering: pixelated;
      }
      .tree {
        max-height: 420px;
        max-width: 260px;
        overflow: auto;
        border: 1px solid var(--jp-border-color2, #ccc);
      }
      .swatch {
        display: inline-block;
        width: 10px;
        height: 10px;
        border-radius: 5px;
        margin-right: 3px;
      }
      .status {
        min-height: 1.2em;
      }
      .status.error {
        color: var(--jp-error-color1, #d32f2f);
      }
      .keys {
        color: var(--jp-ui-font-color2, #555);
        font-size: 0.9em;
      }
    `
  ];

  constructor() {
    super();
    this.addEventListener('keydown', this._onKey);
  }

  connectedCallback(): void {
    super.connectedCallback();
    this.tabIndex = 0; // keyboard operable (attributes may not be set in the constructor)
  }

  // --- what the owner and the benchmark call ----------------------------------------------

  /** Redraws the main canvas now (frame bitmap included when it changed); returns its ms. */
  draw(): number {
    const canvas = this._canvas;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) {
      return 0;
    }
    const start = performance.now();
    const frame = this._frames.get(this.view.t);
    const image = this._layer('image');
    if (frame && this._limits) {
      this._bitmap.update(frame, this._limits, image?.colormap ?? 'gray');
    }
    drawScene(
      ctx,
      {
        t: this.view.t,
        index: this.tables.index,
        layers: this._layers(),
        extraLayers: this.extraLayers,
        transform: this._transform,
        tailLength: this.view.tailLength,
        selected: this.view.selected,
        hovered: this._hovered,
        pointRadius: POINT_RADIUS
      },
      frame ? this._bitmap : undefined
    );
    const ms = performance.now() - start;
    this.drawTimes.push(ms);
    if (this.drawTimes.length > 1000) {
      this.drawTimes.splice(0, this.drawTimes.length - 1000);
    }
    return ms;
  }

  /** Shows frame t once it is here (fetched from the source if need be). */
  async showFrame(t: number): Promise<void> {
    const frames = this.shape[0] ?? 0;
    const clamped = Math.max(0, Math.min(frames - 1, Math.round(t)));
    this._setView({ t: clamped });
    await this._ensureFrame(clamped);
    if (this.view.t === clamped) {
      this._updateLimits();
      this.draw();
      void this._drawCrops();
    }
  }

  /** The division being reviewed, if any. */
  get currentDivision(): IDivision | undefined {
    return this.tables.divisions[this._current];
  }

  /** Reviews the `i`-th division (in review order): jumps to it and selects its mother. */
  async goToDivision(i: number): Promise<void> {
    const count = this.tables.divisions.length;
    if (!count) {
      return;
    }
    this._current = ((i % count) + count) % count;
    const d = this.tables.divisions[this._current] as IDivision;
    this._setView({ selected: d.parentId });
    await Promise.all([this._ensureFrame(d.t - 1), this.showFrame(d.t)]);
  }

  async decide(status: DivisionStatus): Promise<void> {
    const d = this.currentDivision;
    const source = this.source;
    if (!d || !source || !this._mayDecide()) {
      return;
    }
    await this._ask(
      () => source.setStatus(d.parentId, status),
      `division of track ${d.parentId} ${status}`
    );
  }

  /** Moves the current division a frame earlier (-1) or later (+1), and accepts it. */
  async shiftCurrent(frames: -1 | 1): Promise<void> {
    const d = this.currentDivision;
    const source = this.source;
    if (!d || !source || !this._mayDecide()) {
      return;
    }
    const t = d.t + frames;
    await this._ask(
      () => source.shift(d.parentId, frames),
      `division of track ${d.parentId} moved to frame ${t} (accepted)`
    );
    await Promise.all([this._ensureFrame(t - 1), this.showFrame(t)]);
  }

  async undo(): Promise<void> {
    const source = this.source;
    if (source && this._mayDecide()) {
      await this._ask(() => source.undo(), 'undone');
    }
  }

  async redo(): Promise<void> {
    const source = this.source;
    if (source && this._mayDecide()) {
      await this._ask(() => source.redo(), 'redone');
    }
  }

  async relinkCurrent(): Promise<void> {
    const d = this.currentDivision;
    const source = this.source;
    if (!d || !source || !this._mayDecide()) {
      return;
    }
    const { mother, a, b } = this._relink;
    await this._ask(
      () => source.relink(d.parentId, mother, [a, b]),
      `division relinked: track ${mother} -> ${a}, ${b} (accepted)`
    );
  }

  async exportAs(format: ExportFormat): Promise<void> {
    const source = this.source;
    if (!source) {
      return;
    }
    const path = this._exportPath;
    const png = format === 'png' ? await this._png() : undefined;
    await this._ask(async () => {
      const where = await source.exportAs(format, path, png);
      return `exported ${format.toUpperCase()} to ${where}`;
    }, '');
  }

  // --- lit -------------------------------------------------------------------------------

  protected willUpdate(changed: PropertyValues): void {
    if (changed.has('tables')) {
      this._layout = layoutLineage(this.tables.lineage);
      if (this._current >= this.tables.divisions.length) {
        this._current = 0;
      }
    }
    const d = this.currentDivision;
    if (d && (changed.has('tables') || changed.has('_current'))) {
      // The relink pickers start from the division as it stands.
      this._relink = { mother: d.parentId, a: d.daughters[0], b: d.daughters[1] };
    }
  }

  protected firstUpdated(): void {
    this._fit();
    void this.showFrame(this.view.t);
  }

  protected updated(changed: PropertyValues): void {
    // A new frame number is drawn by showFrame once its frame is here, not before (which
    // would draw it twice, the first time without its image).
    const before = changed.get('view') as IViewState | undefined;
    const sameFrame = before === undefined || before.t === this.view.t;
    if (changed.has('tables') || changed.has('_hovered') || (changed.has('view') && sameFrame)) {
      this.draw();
    }
    if (changed.has('tables') || changed.has('_current')) {
      void this._drawCrops();
    }
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this._stop();
  }

  render(): unknown {
    const [frames = 0] = this.shape;
    const t = this.view.t;
    return html`
      <div class="bar" role="toolbar" aria-label="Time">
        <button
          @click=${() => this.showFrame(t - 1)}
          aria-label="Previous frame"
          title="Previous frame (←)"
        >
          ◀
        </button>
        <button
          @click=${this._togglePlay}
          aria-label=${this._playing ? 'Pause' : 'Play'}
          title="Play / pause (space)"
        >
          ${this._playing ? '⏸' : '▶'}
        </button>
        <button
          @click=${() => this.showFrame(t + 1)}
          aria-label="Next frame"
          title="Next frame (→)"
        >
          ▶|
        </button>
        <input
          type="range"
          min="0"
          max=${Math.max(0, frames - 1)}
          .value=${String(t)}
          aria-label="Frame"
          @input=${(e: Event) => this.showFrame(Number((e.target as HTMLInputElement).value))}
        />
        <span class="frame-label">t = ${t} / ${Math.max(0, frames - 1)}</span>
        ${this.note ? html`<span class="note" aria-live="polite">${this.note}</span>` : nothing}
        <label
          >tail
          <input
            type="number"
            min="0"
            max="200"
            .value=${String(this.view.tailLength)}
            aria-label="Tail length in frames"
            style="width: 4em"
            @change=${(e: Event) => this._setView({ tailLength: Math.max(0, Number((e.target as HTMLInputElement).value) || 0) })}
        /></label>
        <label
          >contrast
          <input
            type="number"
            step="any"
            aria-label="Contrast low"
            style="width: 6em"
            .value=${shortNumber(this._limits?.[0])}
            @change=${this._onContrast}
            class="lo"
        /></label>
        <input
          type="number"
          step="any"
          aria-label="Contrast high"
          style="width: 6em"
          .value=${shortNumber(this._limits?.[1])}
          @change=${this._onContrast}
          class="hi"
        />
        <button @click=${this._autoContrast} title="Contrast from the 0.5 and 99.5 percentiles">
          Auto
        </button>
        <button @click=${() => this._zoom(1.25)} aria-label="Zoom in" title="Zoom in (+)">+</button>
        <button @click=${() => this._zoom(0.8)} aria-label="Zoom out" title="Zoom out (−)">
          −
        </button>
        <button
          @click=${() => {
            this._fit();
            this.draw();
          }}
          title="Fit the frame (0)"
        >
          Fit
        </button>
      </div>
      <div class="main">
        <div>
          <canvas
            class="view"
            width=${CANVAS_WIDTH}
            height=${CANVAS_HEIGHT}
            role="img"
            aria-label="Frame ${t} with ${this.tables.index.pointsAt(t).trackId.length} tracked cells"
            @pointerdown=${this._onPointerDown}
            @pointermove=${this._onPointerMove}
            @pointerup=${this._onPointerUp}
            @pointerleave=${() => (this._hovered = 0)}
            @wheel=${this._onWheel}
          ></canvas>
          <div class="status ${this._status.error ? 'error' : ''}" role="status" aria-live="polite">
            ${this._status.text}
          </div>
        </div>
        <div class="tree" aria-label="Lineage tree">
          ${lineageTree({
            layout: this._layout,
            divisions: this.tables.divisions,
            frames,
            t,
            selected: this.view.selected,
            rowPx: Math.max(2, Math.min(8, 400 / Math.max(1, frames))),
            onSelect: id => this._select(id)
          })}
        </div>
      </div>
      <div class="panels">
        <cellpoint-review-divisions
          .tables=${this.tables}
          .current=${this._current}
          .editable=${this.editable}
          .undoDepth=${this.undoDepth}
          .redoDepth=${this.redoDepth}
          .relink=${this._relink}
          @division-action=${this._onDivisionAction}
        ></cellpoint-review-divisions>
        <div>
          <cellpoint-review-layers
            .layers=${this._layers()}
            @layer-change=${(e: CustomEvent<ILayerChange>) => this._setLayer(e.detail.name, e.detail.change)}
          ></cellpoint-review-layers>
          <cellpoint-review-export
            .path=${this._exportPath}
            @export-path=${(e: CustomEvent<string>) => (this._exportPath = e.detail)}
            @export=${(e: CustomEvent<string>) => this.exportAs(e.detail as ExportFormat)}
          ></cellpoint-review-export>
        </div>
      </div>
      <div class="keys">
        Keys: ← → frame · space play · j / k next / previous division · a accept · r reject · l
        relink · [ ] division a frame earlier / later · Ctrl+Z undo · Ctrl+Shift+Z redo · + − 0 zoom
        · Esc clear selection
      </div>
    `;
  }

  // --- frames ------------------------------------------------------------------------------

  private async _ensureFrame(t: number): Promise<Frame | undefined> {
    const frames = this.shape[0] ?? 0;
    if (t < 0 || t >= frames || !this.source) {
      return undefined;
    }
    try {
      return await this._frames.ensure(t);
    } catch (error) {
      this._status = { text: `frame ${t}: ${(error as Error).message}`, error: true };
      return undefined;
    }
  }

  private _updateLimits(): void {
    const contrast = this.view.contrast;
    if (contrast.length === 2 && (contrast[0] as number) < (contrast[1] as number)) {
      this._limits = [contrast[0] as number, contrast[1] as number];
      return;
    }
    const frame = this._frames.get(this.view.t);
    if (frame) {
      this._limits = percentileLimits(frame);
    }
  }

  private _autoContrast = (): void => {
    this._setView({ contrast: [] });
    this._updateLimits();
    this.draw();
  };

  private _onContrast = (): void => {
    const root = this.renderRoot as ShadowRoot;
    const lo = Number((root.querySelector('input.lo') as HTMLInputElement).value);
    const hi = Number((root.querySelector('input.hi') as HTMLInputElement).value);
    if (Number.isFinite(lo) && Number.isFinite(hi) && lo < hi) {
      this._setView({ contrast: [lo, hi] });
      this._limits = [lo, hi];
      this.draw();
      void this._drawCrops();
    } else {
      this._status = { text: 'contrast: the low limit must be below the high one', error: true };
    }
  };

  /** The mother before and the daughters after, cropped around them, side by side. */
  private async _drawCrops(): Promise<void> {
    const panel = (this.renderRoot as ShadowRoot | undefined)?.querySelector(
      'cellpoint-review-divisions'
    ) as ReviewDivisionPanel | null;
    await panel?.updateComplete; // its canvases are those of the division under review
    await panel?.drawCrops(
      t => this._ensureFrame(t),
      this._limits,
      this._layer('image')?.colormap ?? 'gray'
    );
  }

  private _onDivisionAction = (event: CustomEvent<DivisionAction>): void => {
    const action = event.detail;
    switch (action.kind) {
      case 'go':
        void this.goToDivision(action.index);
        break;
      case 'decide':
        void this.decide(action.status);
        break;
      case 'shift':
        void this.shiftCurrent(action.frames);
        break;
      case 'undo':
        void this.undo();
        break;
      case 'redo':
        void this.redo();
        break;
      case 'pick':
        this._relink = action.relink;
        break;
      case 'relink':
        void this.relinkCurrent();
        break;
    }
  };

  // --- interaction ---------------------------------------------------------------------------

  private _onKey = (event: KeyboardEvent): void => {
    const target = event.composedPath()[0] as HTMLElement | undefined;
    if (
      target &&
      ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName) &&
      event.key !== 'Escape'
    ) {
      return;
    }
    if ((event.ctrlKey || event.metaKey) && !event.altKey) {
      const key = event.key.toLowerCase();
      const undoing = key === 'z' ? (event.shiftKey ? this.redo : this.undo) : undefined;
      const action = key === 'y' ? this.redo : undoing;
      if (action) {
        event.preventDefault();
        event.stopPropagation();
        void action.call(this);
      }
      return; // the plain keys below are not shortcuts with a modifier (Ctrl+R is not reject)
    }
    const actions: Record<string, () => unknown> = {
      ArrowLeft: () => this.showFrame(this.view.t - 1),
      ArrowRight: () => this.showFrame(this.view.t + 1),
      ' ': () => this._togglePlay(),
      j: () => this.goToDivision(this._current + 1),
      n: () => this.goToDivision(this._current + 1),
      k: () => this.goToDivision(this._current - 1),
      p: () => this.goToDivision(this._current - 1),
      a: () => this.decide('accepted'),
      r: () => this.decide('rejected'),
      l: () => this.relinkCurrent(),
      '[': () => this.shiftCurrent(-1),
      ']': () => this.shiftCurrent(1),
      '+': () => this._zoom(1.25),
      '=': () => this._zoom(1.25),
      '-': () => this._zoom(0.8),
      '0': () => {
        this._fit();
        this.draw();
      },
      Escape: () => this._select(0)
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      event.stopPropagation(); // JupyterLab's notebook shortcuts must not see these
      void action();
    }
  };

  private _togglePlay = (): void => {
    if (this._playing) {
      this._stop();
      return;
    }
    this._playing = true;
    const step = async (): Promise<void> => {
      if (!this._playing) {
        return;
      }
      const frames = this.shape[0] ?? 1;
      void this._ensureFrame((this.view.t + 2) % frames); // fetch ahead
      await this.showFrame((this.view.t + 1) % frames);
      this._timer = window.setTimeout(step, 1000 / PLAY_FPS);
    };
    void step();
  };

  private _stop(): void {
    this._playing = false;
    window.clearTimeout(this._timer);
  }

  private _select(trackId: number): void {
    this._setView({ selected: trackId });
    const d = trackId ? this.tables.divisionOf(trackId) : undefined;
    if (d) {
      this._current = this.tables.divisions.indexOf(d);
    }
  }

  private _screen(event: PointerEvent | WheelEvent): [number, number] {
    const canvas = this._canvas as HTMLCanvasElement;
    const rect = canvas.getBoundingClientRect();
    const sx = ((event.clientX - rect.left) * canvas.width) / Math.max(1, rect.width);
    const sy = ((event.clientY - rect.top) * canvas.height) / Math.max(1, rect.height);
    return [sx, sy];
  }

  private _onPointerDown = (event: PointerEvent): void => {
    this._drag = { x: event.clientX, y: event.clientY, moved: false };
    (event.target as HTMLElement).setPointerCapture?.(event.pointerId);
  };

  private _onPointerMove = (event: PointerEvent): void => {
    if (this._drag) {
      const dx = event.clientX - this._drag.x;
      const dy = event.clientY - this._drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) {
        this._drag = { x: event.clientX, y: event.clientY, moved: true };
        this._transform = {
          ...this._transform,
          panX: this._transform.panX + dx,
          panY: this._transform.panY + dy
        };
        this.draw();
      }
      return;
    }
    const [sx, sy] = this._screen(event);
    const [y, x] = toImage(this._transform, sx, sy);
    const radius = (POINT_RADIUS * 3) / this._transform.zoom;
    const hovered = this.tables.index.nearest(this.view.t, y, x, radius) ?? 0;
    if (hovered !== this._hovered) {
      this._hovered = hovered;
    }
  };

  private _onPointerUp = (event: PointerEvent): void => {
    const drag = this._drag;
    this._drag = undefined;
    if (drag?.moved) {
      return;
    }
    const [sx, sy] = this._screen(event);
    const [y, x] = toImage(this._transform, sx, sy);
    const radius = (POINT_RADIUS * 3) / this._transform.zoom;
    this._select(this.tables.index.nearest(this.view.t, y, x, radius) ?? 0);
  };

  private _onWheel = (event: WheelEvent): void => {
    event.preventDefault();
    const [sx, sy] = this._screen(event);
    this._transform = zoomAbout(this._transform, event.deltaY < 0 ? 1.15 : 1 / 1.15, sx, sy);
    this.draw();
  };

  private _zoom(factor: number): void {
    this._transform = zoomAbout(this._transform, factor, CANVAS_WIDTH / 2, CANVAS_HEIGHT / 2);
    this.draw();
  }

  private _fit(): void {
    const [, height = 1, width = 1] = this.shape;
    this._transform = fitTransform(width, height, CANVAS_WIDTH, CANVAS_HEIGHT);
  }

  // --- state ---------------------------------------------------------------------------------

  private _layers(): ILayerState[] {
    if (this.view.layers.length) {
      const known = new Set(this.view.layers.map(l => l.name));
      const added = this.extraLayers
        .filter(l => !known.has(l.name))
        .map(l => ({ name: l.name, visible: true, opacity: 1 }));
      return [...this.view.layers, ...added];
    }
    return [
      ...BUILTIN_LAYERS.map(l => ({ ...l })),
      ...this.extraLayers.map(l => ({ name: l.name, visible: true, opacity: 1 }))
    ];
  }

  private _layer(name: string): ILayerState | undefined {
    return this._layers().find(l => l.name === name);
  }

  private _setLayer(name: string, change: Partial<ILayerState>): void {
    this._setView({ layers: this._layers().map(l => (l.name === name ? { ...l, ...change } : l)) });
    void this._drawCrops();
  }

  /** Changes the view and tells the owner, who keeps it (in the widget's model). */
  private _setView(change: Partial<IViewState>): void {
    this.view = { ...this.view, ...change };
    this.dispatchEvent(new CustomEvent<IViewState>('view-change', { detail: this.view }));
  }

  private _mayDecide(): boolean {
    if (!this.editable) {
      this._status = { text: 'tracking still runs: decide divisions once it is done', error: true };
    }
    return this.editable;
  }

  private async _ask(action: () => Promise<unknown>, done: string): Promise<void> {
    this._status = { text: 'working…', error: false };
    try {
      const said = await action();
      this._status = { text: typeof said === 'string' && said ? said : done, error: false };
    } catch (error) {
      this._status = { text: (error as Error).message, error: true };
    }
  }

  private async _png(): Promise<ArrayBuffer> {
    this.draw();
    const canvas = this._canvas as HTMLCanvasElement;
    const blob = await new Promise<Blob | null>(resolve => canvas.toBlob(resolve, 'image/png'));
    if (!blob) {
      throw new Error('the view could not be made into a PNG');
    }
    return blob.arrayBuffer();
  }

  private get _canvas(): HTMLCanvasElement | null {
    return (this.renderRoot as ShadowRoot | undefined)?.querySelector('canvas.view') ?? null;
  }

  private _frames = new FrameCache(async t => {
    const source = this.source as IReviewSource; // _ensureFrame asks only with a source
    const f = await source.frame(t);
    return frameView(f.data, f.height, f.width);
  }, FRAME_CACHE);
  private _bitmap = new FrameBitmap(document.createElement('canvas'));
  private _transform: IViewTransform = { zoom: 1, panX: 0, panY: 0 };
  private _layout = layoutLineage([]);
  private _drag: { x: number; y: number; moved: boolean } | undefined;
  private _timer = 0;
  private _exportPath = 'cellpoint-review';
  private _current = 0;
  private _relink: IRelink = { mother: 0, a: 0, b: 0 };
  private _status = { text: '', error: false };
  private _playing = false;
  private _limits: [number, number] | undefined;
  private _hovered = 0;
}

export function defineReviewViewer(): void {
  const elements: [string, CustomElementConstructor][] = [
    ['cellpoint-review-layers', ReviewLayerList],
    ['cellpoint-review-divisions', ReviewDivisionPanel],
    ['cellpoint-review-export', ReviewExportPanel],
    ['cellpoint-review', ReviewViewer]
  ];
  for (const [name, element] of elements) {
    if (!customElements.get(name)) {
      customElements.define(name, element);
    }
  }
}
