import { DivisionStatus, ReviewTables } from '../../src/widget/review/tables';
import {
  ExportFormat,
  IFrameData,
  IReviewSource,
  IViewState,
  ReviewViewer,
  defineReviewViewer
} from '../../src/widget/review/viewer';

/* eslint-disable @typescript-eslint/no-non-null-assertion -- fixtures known to exist */

/**
 * Two divisions: track 1 -> 2, 3 at t=3 (score 0.9) and track 4 -> 5, 6 at t=2 (score 0.3);
 * track 7 is a root born at t=3 near track 1's end, track 8 ends at t=2.
 */
const SPANS: Record<number, [number, number, number]> = {
  1: [0, 2, 0],
  2: [3, 5, 1],
  3: [3, 5, 1],
  4: [0, 1, 0],
  5: [2, 5, 4],
  6: [2, 5, 4],
  7: [3, 5, 0],
  8: [0, 2, 0]
};
const PLACES: Record<number, [number, number]> = {
  1: [10, 10],
  2: [8, 10],
  3: [12, 10],
  4: [30, 30],
  5: [28, 30],
  6: [32, 30],
  7: [10, 14],
  8: [40, 5]
};

function tables(status: Record<number, DivisionStatus> = {}): ReviewTables {
  const tracks = {
    track_id: [] as number[],
    t: [] as number[],
    y: [] as number[],
    x: [] as number[],
    visibility: [] as number[]
  };
  for (const [id, [start, end]] of Object.entries(SPANS)) {
    for (let t = start; t <= end; t++) {
      tracks.track_id.push(Number(id));
      tracks.t.push(t);
      tracks.y.push(PLACES[Number(id)]![0]);
      tracks.x.push(PLACES[Number(id)]![1]);
      tracks.visibility.push(0.9);
    }
  }
  const ids = Object.keys(SPANS).map(Number);
  const lineage = {
    track_id: ids,
    start: ids.map(i => SPANS[i]![0]),
    end: ids.map(i => SPANS[i]![1]),
    parent_id: ids.map(i => SPANS[i]![2])
  };
  const divisions = {
    parent_id: [1, 4],
    t: [3, 2],
    daughter_a: [2, 5],
    daughter_b: [3, 6],
    score: [0.9, 0.3],
    status: [status[1] ?? 'proposed', status[4] ?? 'proposed'] as DivisionStatus[]
  };
  return new ReviewTables(tracks, lineage, divisions);
}

/** The kernel as the viewer sees it: frames of a ramp, decisions recorded and applied. */
class Kernel implements IReviewSource {
  calls: string[] = [];
  statuses: Record<number, DivisionStatus> = {};
  constructor(private viewer: () => ReviewViewer) {}

  async frame(t: number): Promise<IFrameData> {
    this.calls.push(`frame ${t}`);
    if (t > 5) {
      throw new Error(`frame ${t} outside 0..5`);
    }
    return {
      data: Uint8Array.from({ length: 48 * 48 }, (_, i) => (i + t) % 256),
      height: 48,
      width: 48
    };
  }

  async setStatus(parentId: number, status: DivisionStatus): Promise<void> {
    this.calls.push(`status ${parentId} ${status}`);
    this.statuses[parentId] = status;
    this.viewer().tables = tables(this.statuses);
  }

  async relink(parentId: number, mother: number, daughters: [number, number]): Promise<void> {
    this.calls.push(`relink ${parentId} ${mother} ${daughters.join(',')}`);
    if (daughters[0] === daughters[1]) {
      throw new Error('the two daughters must differ');
    }
  }

  async shift(parentId: number, frames: -1 | 1): Promise<void> {
    this.calls.push(`shift ${parentId} ${frames}`);
    this.viewer().undoDepth += 1;
  }

  async undo(): Promise<void> {
    this.calls.push('undo');
    this.viewer().undoDepth -= 1;
    this.viewer().redoDepth += 1;
  }

  async redo(): Promise<void> {
    this.calls.push('redo');
    this.viewer().redoDepth -= 1;
    this.viewer().undoDepth += 1;
  }

  async exportAs(format: ExportFormat, path: string, png?: ArrayBuffer): Promise<string> {
    this.calls.push(`export ${format} ${path} ${png ? 'png' : ''}`.trim());
    return `${path}/${format}`;
  }
}

async function viewer(): Promise<{ el: ReviewViewer; kernel: Kernel; views: IViewState[] }> {
  defineReviewViewer();
  const el = document.createElement('cellpoint-review') as ReviewViewer;
  const kernel = new Kernel(() => el);
  const views: IViewState[] = [];
  el.source = kernel;
  el.shape = [6, 48, 48];
  el.tables = tables();
  el.addEventListener('view-change', e => views.push((e as CustomEvent<IViewState>).detail));
  document.body.appendChild(el);
  await el.updateComplete;
  return { el, kernel, views };
}

/** An element's text as a reader sees it (template whitespace collapsed). */
function text(node: Element | null | undefined): string {
  return (node?.textContent ?? '').replace(/\s+/g, ' ').trim();
}

function root(el: ReviewViewer): ShadowRoot {
  return el.shadowRoot as ShadowRoot;
}

async function settle(el: ReviewViewer): Promise<void> {
  await new Promise(r => setTimeout(r, 0));
  await el.updateComplete;
}

function key(el: ReviewViewer, k: string, modifiers: KeyboardEventInit = {}): void {
  el.dispatchEvent(
    new KeyboardEvent('keydown', { key: k, bubbles: true, composed: true, ...modifiers })
  );
}

beforeAll(() => {
  // jsdom draws nothing (it says so on the console at every call); the browser tests draw.
  HTMLCanvasElement.prototype.getContext = (() =>
    null) as typeof HTMLCanvasElement.prototype.getContext;
});

afterEach(() => {
  document.body.innerHTML = '';
});

describe('ReviewTables', () => {
  it('orders divisions least sure first', () => {
    expect(tables().divisions.map(d => d.parentId)).toEqual([4, 1]);
  });

  it('offers mothers that end just before the daughters, nearest first', () => {
    const t = tables();
    const d = t.divisions.find(x => x.parentId === 1)!;
    // 1 and 8 end at t=2; 1 is where the daughters are, 8 far away.
    expect(t.motherCandidates(d).map(c => c.trackId)).toEqual([1, 8]);
  });

  it('offers daughters among roots and its own daughters born on its frame', () => {
    const t = tables();
    const d = t.divisions.find(x => x.parentId === 1)!;
    const offered = t.daughterCandidates(d).map(c => c.trackId);
    expect(offered.sort()).toEqual([2, 3, 7]);
    expect(t.daughterCandidates(d)[0]!.distance).toBeCloseTo(2);
  });
});

describe('<cellpoint-review>', () => {
  it('lists every division with its status, least sure first', async () => {
    const { el } = await viewer();
    const items = [...root(el).querySelectorAll('li[data-parent]')];
    expect(items.map(i => i.getAttribute('data-parent'))).toEqual(['4', '1']);
    expect(text(items[0])).toMatch(/t 2: 4 → 5, 6 · score 0\.30 · proposed/);
    expect(text(root(el).querySelector('.layers legend'))).toBe('Layers');
    expect(text(root(el).querySelector('.divisions-box legend'))).toBe(
      'Divisions (2, 2 to review)'
    );
  });

  it('steps frames with the keyboard, fetching each from the kernel once', async () => {
    const { el, kernel, views } = await viewer();
    await settle(el);
    key(el, 'ArrowRight');
    await settle(el);
    key(el, 'ArrowRight');
    await settle(el);
    key(el, 'ArrowLeft');
    await settle(el);
    expect(el.view.t).toBe(1);
    expect(views.map(v => v.t)).toEqual([0, 1, 2, 1]);
    expect(kernel.calls.filter(c => c.startsWith('frame'))).toEqual([
      'frame 0',
      'frame 1',
      'frame 2'
    ]);
    expect(text(root(el).querySelector('.frame-label'))).toBe('t = 1 / 5');
  });

  it('accepts and rejects the division under review with a and r', async () => {
    const { el, kernel } = await viewer();
    await el.goToDivision(0);
    expect(el.view.selected).toBe(4);
    expect(el.view.t).toBe(2);
    key(el, 'r');
    await settle(el);
    key(el, 'j');
    await settle(el);
    key(el, 'a');
    await settle(el);
    expect(kernel.calls.filter(c => c.startsWith('status'))).toEqual([
      'status 4 rejected',
      'status 1 accepted'
    ]);
    const statuses = [...root(el).querySelectorAll('li[data-parent]')].map(i =>
      i.getAttribute('data-status')
    );
    expect(statuses).toEqual(['rejected', 'accepted']);
    expect(text(root(el).querySelector('[role=status]'))).toBe('division of track 1 accepted');
  });

  it('moves a division a frame earlier or later, and undoes and redoes', async () => {
    const { el, kernel } = await viewer();
    await el.goToDivision(1); // track 1's, daughters from t = 3
    await settle(el);
    const button = (cls: string): HTMLButtonElement =>
      root(el).querySelector(`button.${cls}`) as HTMLButtonElement;
    expect(button('undo').disabled).toBe(true); // nothing decided yet
    key(el, '[');
    await settle(el);
    expect(text(root(el).querySelector('[role=status]'))).toBe(
      'division of track 1 moved to frame 2 (accepted)'
    );
    expect(el.view.t).toBe(2); // the daughters' new first frame is shown
    button('later').click();
    await settle(el);
    key(el, 'z', { ctrlKey: true });
    await settle(el);
    expect(button('redo').disabled).toBe(false);
    key(el, 'Z', { ctrlKey: true, shiftKey: true });
    await settle(el);
    key(el, 'y', { metaKey: true });
    await settle(el);
    key(el, 'r', { ctrlKey: true }); // the browser's reload, not reject
    await settle(el);
    expect(kernel.calls.filter(c => !c.startsWith('frame'))).toEqual([
      'shift 1 -1',
      'shift 1 1',
      'undo',
      'redo',
      'redo'
    ]);
  });

  it('relinks to the picked mother and daughters, and shows a refusal', async () => {
    const { el, kernel } = await viewer();
    await el.goToDivision(1); // track 1's
    await settle(el);
    const pick = (cls: string, value: string): void => {
      const select = root(el).querySelector(`select.${cls}`) as HTMLSelectElement;
      select.value = value;
      select.dispatchEvent(new Event('change'));
    };
    pick('daughter-b', '7');
    key(el, 'l');
    await settle(el);
    expect(kernel.calls).toContain('relink 1 1 2,7');
    pick('daughter-b', '2');
    (root(el).querySelector('button.relink-apply') as HTMLButtonElement).click();
    await settle(el);
    const status = root(el).querySelector('[role=status]') as HTMLElement;
    expect(text(status)).toBe('the two daughters must differ');
    expect(status.classList.contains('error')).toBe(true);
  });

  it('keeps layer settings in its view state', async () => {
    const { el, views } = await viewer();
    const row = root(el).querySelector('[data-layer=image]') as HTMLElement;
    const select = row.querySelector('select') as HTMLSelectElement;
    select.value = 'viridis';
    select.dispatchEvent(new Event('change'));
    const box = root(el).querySelector(
      '[data-layer=points] input[type=checkbox]'
    ) as HTMLInputElement;
    box.checked = false;
    box.dispatchEvent(new Event('change'));
    const last = views[views.length - 1]!;
    expect(last.layers.find(l => l.name === 'image')?.colormap).toBe('viridis');
    expect(last.layers.find(l => l.name === 'points')?.visible).toBe(false);
    expect(last.layers.map(l => l.name)).toEqual(['image', 'tracks', 'points']);
  });

  it("lists a plugin's layer after the built-in ones", async () => {
    const { el, views } = await viewer();
    el.extraLayers = [{ name: 'heatmap', draw: () => undefined }];
    await el.updateComplete;
    const rows = [...root(el).querySelectorAll('[data-layer]')].map(r =>
      r.getAttribute('data-layer')
    );
    expect(rows).toEqual(['image', 'tracks', 'points', 'heatmap']);
    const box = root(el).querySelector(
      '[data-layer=heatmap] input[type=checkbox]'
    ) as HTMLInputElement;
    box.checked = false;
    box.dispatchEvent(new Event('change'));
    expect(views[views.length - 1]?.layers.find(l => l.name === 'heatmap')?.visible).toBe(false);
  });

  it('selects a track from the lineage tree and the division it belongs to', async () => {
    const { el } = await viewer();
    const line = root(el).querySelector('line[data-track="6"]') as SVGLineElement;
    line.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    await settle(el);
    expect(el.view.selected).toBe(6);
    expect(el.currentDivision?.parentId).toBe(4);
    const chosen = root(el).querySelector('li[aria-selected=true]');
    expect(chosen?.getAttribute('data-parent')).toBe('4');
    key(el, 'Escape');
    expect(el.view.selected).toBe(0);
  });

  it('takes no decisions while tracking still runs, and says why', async () => {
    const { el, kernel } = await viewer();
    el.editable = false;
    el.note = 'tracking: 4/6 frames';
    await el.goToDivision(0);
    await settle(el);
    key(el, 'a');
    await settle(el);
    expect(kernel.calls.some(c => c.startsWith('status'))).toBe(false);
    expect(text(root(el).querySelector('[role=status]'))).toBe(
      'tracking still runs: decide divisions once it is done'
    );
    expect((root(el).querySelector('button.accept') as HTMLButtonElement).disabled).toBe(true);
    expect(text(root(el).querySelector('.note'))).toBe('tracking: 4/6 frames');
  });

  it('exports through the kernel and says where', async () => {
    const { el, kernel } = await viewer();
    const buttons = Array.from(root(el).querySelectorAll<HTMLButtonElement>('button[data-export]'));
    expect(buttons.map(b => [b.dataset.export, text(b)])).toEqual([
      ['ctc', 'CTC folder'],
      ['csv', 'CSV'],
      ['parquet', 'PARQUET'],
      ['geff', 'GEFF'],
      ['png', 'PNG']
    ]);
    (root(el).querySelector('button[data-export=csv]') as HTMLButtonElement).click();
    await settle(el);
    expect(kernel.calls).toContain('export csv cellpoint-review');
    expect(text(root(el).querySelector('[role=status]'))).toBe(
      'exported CSV to cellpoint-review/csv'
    );
    (root(el).querySelector('button[data-export=geff]') as HTMLButtonElement).click();
    await settle(el);
    expect(kernel.calls).toContain('export geff cellpoint-review');
    expect(text(root(el).querySelector('[role=status]'))).toBe(
      'exported GEFF to cellpoint-review/geff'
    );
  });

  it('says when a frame cannot be had', async () => {
    const { el } = await viewer();
    el.shape = [9, 48, 48];
    await el.showFrame(7);
    await settle(el);
    expect(text(root(el).querySelector('[role=status]'))).toBe('frame 7: frame 7 outside 0..5');
  });
});
