/**
 * The lineage layout: hand-computed trees, the checks on its input, and the tidy-tree
 * properties on random forests and on 10,000-track chains and trees.
 */
import { ILineageLayout, ILineageRow, layoutLineage } from '../../src/widget/review/lineage-layout';
import { random } from './random';

function row(track_id: number, start: number, end: number, parent_id = 0): ILineageRow {
  return { track_id, start, end, parent_id };
}

function columnsOf(layout: ILineageLayout): Record<number, number> {
  return Object.fromEntries([...layout.nodes.values()].map(n => [n.trackId, n.column]));
}

function shuffled<T>(items: T[], next: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/**
 * A random forest of `count` tracks: each new track divides off a track with fewer than two
 * children, or starts a tree; ids are then shuffled so that they do not follow creation order,
 * and so are the rows.
 */
function randomForest(count: number, seed: number): ILineageRow[] {
  const next = random(seed);
  const parentOf = [0];
  const kids = [0];
  for (let i = 1; i < count; i++) {
    const open = parentOf.map((_, j) => j).filter(j => (kids[j] as number) < 2);
    const parent =
      next() < 0.15 || open.length === 0 ? -1 : (open[Math.floor(next() * open.length)] as number);
    parentOf.push(parent + 1); // creation index + 1, 0 for a root
    kids.push(0);
    if (parent >= 0) {
      kids[parent] = (kids[parent] as number) + 1;
    }
  }
  const ids = shuffled(
    Array.from({ length: count }, (_, i) => i + 1),
    next
  );
  const idOf = (creation: number): number => (creation === 0 ? 0 : (ids[creation - 1] as number));
  const rows = parentOf.map((p, i) => row(ids[i] as number, i, i + 3, idOf(p)));
  return shuffled(rows, next);
}

/** The tidy-tree properties every layout must have; collected, so that big trees stay quick. */
function expectTidy(rows: ILineageRow[], layout: ILineageLayout): void {
  const ids = new Set(rows.map(r => r.track_id));
  const children = new Map<number, number[]>();
  for (const r of rows) {
    if (ids.has(r.parent_id)) {
      children.set(r.parent_id, [...(children.get(r.parent_id) ?? []), r.track_id]);
    }
  }
  const column = (id: number): number => (layout.nodes.get(id) as { column: number }).column;
  const problems: string[] = [];
  // Leaves take exactly the columns 0..L-1.
  const leaves = rows.filter(r => !children.has(r.track_id)).map(r => column(r.track_id));
  expect(leaves.sort((a, b) => a - b)).toEqual(leaves.map((_, i) => i));
  expect(layout.columns).toBe(leaves.length);
  // A parent sits at the mean of its children, so between them; children in id order.
  for (const [parent, kids] of children) {
    const cols = kids.sort((a, b) => a - b).map(column);
    const mean = cols.reduce((s, c) => s + c, 0) / cols.length;
    const p = column(parent);
    if (Math.abs(p - mean) > 1e-9 || p < Math.min(...cols) || p > Math.max(...cols)) {
      problems.push(`parent ${parent} at ${p}, children at ${cols}`);
    }
    if (!cols.every((c, i) => i === 0 || c > (cols[i - 1] as number))) {
      problems.push(`children of ${parent} out of id order: ${kids} at ${cols}`);
    }
  }
  // Trees, in root id order, take disjoint, increasing ranges of columns.
  const parentOf = new Map(rows.map(r => [r.track_id, r.parent_id]));
  const rootOf = (id: number): number => {
    let at = id;
    while (ids.has(parentOf.get(at) as number)) {
      at = parentOf.get(at) as number;
    }
    return at;
  };
  const span = new Map<number, [number, number]>();
  for (const id of ids) {
    const root = rootOf(id);
    const [lo, hi] = span.get(root) ?? [Infinity, -Infinity];
    span.set(root, [Math.min(lo, column(id)), Math.max(hi, column(id))]);
  }
  const spans = [...span.entries()].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const [root, [lo]] = spans[i] as [number, [number, number]];
    const [before, [, hi]] = spans[i - 1] as [number, [number, number]];
    if (!(lo > hi)) {
      problems.push(`tree ${root} (from column ${lo}) overlaps tree ${before} (to ${hi})`);
    }
  }
  // Nodes keep the rows' times and parents.
  for (const r of rows) {
    const node = layout.nodes.get(r.track_id);
    if (node?.start !== r.start || node.end !== r.end || node.parentId !== r.parent_id) {
      problems.push(`track ${r.track_id}: ${JSON.stringify(node)} for ${JSON.stringify(r)}`);
    }
  }
  expect(problems).toEqual([]);
  // One edge per track whose parent is present.
  expect(layout.edges).toHaveLength(rows.filter(r => ids.has(r.parent_id)).length);
}

describe('layoutLineage', () => {
  it('lays out divisions, continuations and separate trees (hand-computed)', () => {
    const rows = [
      row(6, 0, 20),
      row(3, 6, 12, 1),
      row(1, 0, 5),
      row(5, 11, 14, 2),
      row(2, 6, 10, 1),
      row(4, 11, 15, 2),
      row(8, 3, 9),
      row(9, 10, 20, 8)
    ];
    const layout = layoutLineage(rows);
    // Tree 1: leaves 4, 5, 3 take 0, 1, 2; 2 = (0 + 1) / 2; 1 = (0.5 + 2) / 2.
    // Tree 6: a single leaf, 3. Tree 8: 9 continues 8 in the same column, 4.
    expect(columnsOf(layout)).toEqual({ 1: 1.25, 2: 0.5, 3: 2, 4: 0, 5: 1, 6: 3, 8: 4, 9: 4 });
    expect(layout.columns).toBe(5);
    expect([...layout.nodes.keys()]).toEqual([1, 2, 4, 5, 3, 6, 8, 9]);
    expect(layout.edges).toEqual([
      [1, 2],
      [1, 3],
      [2, 4],
      [2, 5],
      [8, 9]
    ]);
    expect(layout.nodes.get(2)).toEqual({
      trackId: 2,
      column: 0.5,
      start: 6,
      end: 10,
      parentId: 1
    });
    expectTidy(rows, layout);
  });

  it('orders children by id, whatever the row order', () => {
    const layout = layoutLineage([row(10, 0, 1), row(30, 2, 3, 10), row(20, 2, 3, 10)]);
    expect(columnsOf(layout)).toEqual({ 10: 0.5, 20: 0, 30: 1 });
  });

  it('treats a track whose parent is missing as a root', () => {
    const rows = [row(5, 4, 8, 99), row(7, 9, 12, 5), row(2, 0, 3)];
    const layout = layoutLineage(rows);
    // Roots by id: 2 first, then 5 (parent 99 absent) with its continuation 7.
    expect(columnsOf(layout)).toEqual({ 2: 0, 5: 1, 7: 1 });
    expect(layout.edges).toEqual([[5, 7]]);
    expect(layout.nodes.get(5)?.parentId).toBe(99);
    expectTidy(rows, layout);
  });

  it('means three or more children too', () => {
    const layout = layoutLineage([
      row(1, 0, 1),
      row(2, 2, 3, 1),
      row(3, 2, 3, 1),
      row(4, 2, 3, 1),
      row(5, 2, 3, 1)
    ]);
    expect(columnsOf(layout)).toEqual({ 1: 1.5, 2: 0, 3: 1, 4: 2, 5: 3 });
  });

  it('gives an empty layout for no rows', () => {
    expect(layoutLineage([])).toEqual({ nodes: new Map(), columns: 0, edges: [] });
  });

  it('names the tracks of a cycle', () => {
    expect(() => layoutLineage([row(1, 0, 1, 2), row(2, 0, 1, 1)])).toThrow(
      'lineage has a cycle of parents: tracks 1 -> 2 -> 1'
    );
    expect(() => layoutLineage([row(4, 0, 1), row(5, 0, 1, 5)])).toThrow('tracks 5 -> 5');
    // A track hanging off a cycle is not part of it.
    expect(() =>
      layoutLineage([row(9, 0, 1, 3), row(3, 0, 1, 7), row(7, 0, 1, 8), row(8, 0, 1, 3)])
    ).toThrow('tracks 3 -> 7 -> 8 -> 3');
  });

  it('rejects repeated or non-positive ids and tracks that end before they start', () => {
    expect(() => layoutLineage([row(1, 0, 1), row(1, 2, 3)])).toThrow('lineage has track 1 twice');
    expect(() => layoutLineage([row(0, 0, 1)])).toThrow(
      'positive integers (0 means no parent), got 0'
    );
    expect(() => layoutLineage([row(2.5, 0, 1)])).toThrow('got 2.5');
    expect(() => layoutLineage([row(3, 5, 4)])).toThrow(
      'lineage track 3 ends (4) before it starts (5)'
    );
  });

  it('is a tidy tree on random forests', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rows = randomForest(300, seed);
      expectTidy(rows, layoutLineage(rows));
    }
  });

  it('handles 10,000-track chains and trees without recursion', () => {
    const chain = Array.from({ length: 10000 }, (_, i) => row(i + 1, i, i, i));
    const layout = layoutLineage(chain);
    expect(layout.columns).toBe(1);
    expect([...layout.nodes.values()].every(n => n.column === 0)).toBe(true);
    expect(layout.edges).toHaveLength(9999);
    // A complete binary tree of 8191 tracks plus a deep comb of 1809: 4096 + 905 leaves.
    const tree = Array.from({ length: 8191 }, (_, i) => row(i + 1, 0, 1, (i + 1) >> 1));
    const comb = Array.from({ length: 1809 }, (_, i) =>
      row(8192 + i, 0, 1, i === 0 ? 0 : 8192 + 2 * Math.floor((i - 1) / 2))
    );
    const rows = [...tree, ...comb];
    const big = layoutLineage(rows);
    expect(big.nodes.size).toBe(10000);
    expect(big.nodes.get(1)?.column).toBe(2047.5);
    expectTidy(rows, big);
  });
});
