/**
 * The browser's side of `TrackingResult.review()` (`cellpoint.review.widget.ReviewWidget`): the
 * model asks the kernel for frames and sends it the reviewer's decisions (custom messages with
 * ids, answered by a reply of the same id); the view is `<cellpoint-review>`, fed from the
 * model's tables and writing the view (frame, selection, layers, contrast) back into the model
 * so that it is saved with the notebook's widget state.
 */

import {
  DOMWidgetModel,
  DOMWidgetView,
  IBackboneModelOptions,
  ISerializers,
  put_buffers
} from '@jupyter-widgets/base';
import { Buffers } from '../../comm-buffers';
import { KernelRequests, isReply } from '../../comm-requests';
import { FRAME_DTYPES, FrameDtype } from '../../frame-dtypes';
import { MODULE_NAME, MODULE_VERSION } from '../../version';
import type { ILayerState, IReviewLayer } from './draw';
import { decodeTable } from '../../job/messages';
import { FromKernel, GrowMessage, checkFromKernel } from './messages';
import { ITablesGrowth, ReviewTables, checkTables, growTables } from './tables';
import type { DivisionStatus } from './tables';
import {
  ExportFormat,
  IFrameData,
  IReviewSource,
  IViewState,
  ReviewViewer,
  defineReviewViewer
} from './viewer';

/** The result's tables, as the model holds them. */
const TABLES = ['tracks', 'lineage', 'divisions'] as const;

/** A question the kernel leaves unanswered this long fails, saying so. */
const REQUEST_TIMEOUT_MS = 60_000;

/** Widget classes for the kernel's `ReviewWidget`; `layers` are the plugins' review layers. */
export function createReviewWidget(layers: () => Promise<IReviewLayer[]>): {
  ReviewModel: typeof DOMWidgetModel;
  ReviewView: typeof DOMWidgetView;
} {
  defineReviewViewer();

  class ReviewModel extends DOMWidgetModel implements IReviewSource {
    defaults(): Backbone.ObjectHash {
      return {
        ...super.defaults(),
        _model_name: 'ReviewModel',
        _model_module: MODULE_NAME,
        _model_module_version: MODULE_VERSION,
        _view_name: 'ReviewView',
        _view_module: MODULE_NAME,
        _view_module_version: MODULE_VERSION,
        shape: [0, 0, 0],
        dtype: 'uint8',
        tracks: {},
        lineage: {},
        divisions: {},
        t: 0,
        selected: 0,
        tail_length: 10,
        contrast: [],
        layers: [],
        export_dir: 'cellpoint-review',
        editable: true,
        note: '',
        undo_depth: 0,
        redo_depth: 0
      };
    }

    /** The tables' typed columns arrive as buffers (the job's wire dtypes): plain arrays here. */
    static serializers: ISerializers = {
      ...DOMWidgetModel.serializers,
      tracks: { deserialize: (state: object) => decodeTable('tracks', state) },
      lineage: { deserialize: (state: object) => decodeTable('lineage', state) },
      divisions: { deserialize: (state: object) => decodeTable('divisions', state) }
    };

    initialize(attributes: Backbone.ObjectHash, options: IBackboneModelOptions): void {
      super.initialize(attributes, options);
      this._requests = new KernelRequests(
        (content, buffers) => this.send(content, {}, buffers),
        REQUEST_TIMEOUT_MS
      );
      this.on('msg:custom', (content: unknown, buffers: Buffers) => {
        let message: FromKernel;
        try {
          message = checkFromKernel(content);
        } catch (error) {
          // A reply that breaks the contract fails its request, saying how.
          const id = (content as { id?: unknown } | null)?.id;
          const reason = (error as Error).message;
          if (typeof id === 'number') {
            this._requests.answer({ type: 'reply', id, ok: false, error: reason });
          }
          console.error(`cellpoint review: ${reason}`);
          return;
        }
        if (isReply(message)) {
          this._requests.answer(message, buffers ?? []);
        } else {
          this._grow(message, buffers ?? []);
        }
      });
    }

    /** Tracking's tables grown to its next checkpoint: the views show them; they stay in the
     * browser (the kernel syncs the final result). Set as the kernel's state, so that the next
     * view change saved does not send them back. */
    private _grow(message: GrowMessage, buffers: Buffers): void {
      put_buffers(
        message as unknown as Parameters<typeof put_buffers>[0],
        message.buffer_paths,
        buffers
      );
      const growth: ITablesGrowth = {
        since: message.since,
        tracks: decodeTable('tracks', message.tracks) as ITablesGrowth['tracks'],
        lineage: decodeTable('lineage', message.lineage) as ITablesGrowth['lineage'],
        divisions: decodeTable('divisions', message.divisions) as ITablesGrowth['divisions']
      };
      const [tracks, lineage, divisions] = TABLES.map(k => this.get(k));
      this.set_state({ ...growTables(tracks, lineage, divisions, growth) });
    }

    async frame(t: number): Promise<IFrameData> {
      const { reply, buffers } = await this._ask({ type: 'frame', t });
      const [height, width] = reply.shape as [number, number];
      const make = FRAME_DTYPES[String(reply.dtype) as FrameDtype];
      const buffer = buffers[0];
      if (!make || !buffer) {
        throw new Error(`frame ${t} came as ${String(reply.dtype)}, which the viewer cannot show`);
      }
      return { data: new make(buffer), height, width };
    }

    async setStatus(parentId: number, status: DivisionStatus): Promise<void> {
      await this._ask({ type: 'status', parent_id: parentId, status });
    }

    async relink(parentId: number, mother: number, daughters: [number, number]): Promise<void> {
      await this._ask({ type: 'relink', parent_id: parentId, mother, daughters });
    }

    async shift(parentId: number, frames: -1 | 1): Promise<void> {
      await this._ask({ type: 'shift', parent_id: parentId, frames });
    }

    async undo(): Promise<void> {
      await this._ask({ type: 'undo' });
    }

    async redo(): Promise<void> {
      await this._ask({ type: 'redo' });
    }

    async exportAs(format: ExportFormat, path: string, png?: ArrayBuffer): Promise<string> {
      const { reply } = await this._ask({ type: 'export', format, path }, png ? [png] : []);
      return String(reply.path);
    }

    /** Asks the kernel, once it is connected to this widget. */
    private _ask(
      content: Parameters<KernelRequests['ask']>[0],
      buffers: ArrayBuffer[] = []
    ): ReturnType<KernelRequests['ask']> {
      if (!this.comm_live) {
        return Promise.reject(
          new Error('the kernel is not connected: run the cell again to review')
        );
      }
      return this._requests.ask(content, buffers);
    }

    private _requests!: KernelRequests;
  }

  class ReviewView extends DOMWidgetView {
    render(): void {
      this.el.classList.add('cellpoint-review-widget');
      this._viewer = document.createElement('cellpoint-review') as ReviewViewer;
      this._viewer.source = this.model as unknown as IReviewSource;
      this._viewer.shape = this.model.get('shape');
      this._viewer.view = {
        t: this.model.get('t'),
        selected: this.model.get('selected'),
        tailLength: this.model.get('tail_length'),
        contrast: this.model.get('contrast'),
        layers: this.model.get('layers') as ILayerState[]
      };
      this._showTables();
      this._viewer.addEventListener('view-change', this._onViewChange);
      // One 'change' for the tables set together (a sync, a growth): checked and indexed once.
      this.listenTo(this.model, 'change', () => {
        if (TABLES.some(k => this.model.hasChanged(k))) {
          this._showTables();
        }
      });
      this.listenTo(
        this.model,
        'change:editable change:note change:undo_depth change:redo_depth',
        this._showEditState
      );
      this._showEditState();
      this.el.appendChild(this._viewer);
      void layers().then(extra => (this._viewer.extraLayers = extra));
    }

    private _showTables(): void {
      const [tracks, lineage, divisions] = TABLES.map(k => this.model.get(k));
      try {
        checkTables({ tracks, lineage, divisions });
      } catch (error) {
        this._viewer.note = (error as Error).message;
        return;
      }
      this._viewer.tables = new ReviewTables(tracks, lineage, divisions);
    }

    private _showEditState(): void {
      this._viewer.editable = this.model.get('editable');
      this._viewer.note = this.model.get('note');
      this._viewer.undoDepth = this.model.get('undo_depth');
      this._viewer.redoDepth = this.model.get('redo_depth');
    }

    private _onViewChange = (event: Event): void => {
      const view = (event as CustomEvent<IViewState>).detail;
      this.model.set({
        t: view.t,
        selected: view.selected,
        tail_length: view.tailLength,
        contrast: view.contrast,
        layers: view.layers
      });
      this.model.save_changes();
    };

    private _viewer!: ReviewViewer;
  }

  return { ReviewModel, ReviewView };
}
