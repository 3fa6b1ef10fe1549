/**
 * The lineage tree's layout: time along one axis (each track from its start to its end frame),
 * one column per track across it. A tidy tree: leaves take consecutive integer columns, a
 * parent sits at the mean of its children's columns, each tree keeps its columns together.
 */

/** A row of the lineage table (the CTC man_track semantics: parent_id 0 for a root). */
export interface ILineageRow {
  track_id: number;
  start: number;
  end: number;
  parent_id: number;
}

export interface ILineageNode {
  trackId: number;
  /** Leaves are integers 0, 1, ...; a parent is the mean of its children (maybe fractional). */
  column: number;
  start: number;
  end: number;
  /** As in the row, even when that track is missing (the node then roots a tree). */
  parentId: number;
}

export interface ILineageLayout {
  /** By track id; iterates trees by root id, each depth-first (pre-order), children by id. */
  nodes: Map<number, ILineageNode>;
  /** Columns used: the number of leaves. */
  columns: number;
  /** Parent to child where both tracks are in the rows; by parent in node order, then child id. */
  edges: Array<[parent: number, child: number]>;
}

/**
 * Lays out the lineage rows. Iterative, so that long chains cannot overflow the stack.
 * Throws on a repeated or non-positive track id, an end before a start, or a cycle of parents.
 */
export function layoutLineage(rows: readonly ILineageRow[]): ILineageLayout {
  const byId = indexRows(rows);
  const children = childrenOf(byId);
  const roots = [...byId.values()]
    .filter(r => !byId.has(r.parent_id))
    .map(r => r.track_id)
    .sort((a, b) => a - b);
  const order = depthFirst(roots, children);
  if (order.length < byId.size) {
    throw new Error(
      `lineage has a cycle of parents: tracks ${findCycle(byId, order).join(' -> ')}`
    );
  }
  const columns = assignColumns(order, children);
  const nodes = new Map<number, ILineageNode>();
  const edges: Array<[number, number]> = [];
  for (const id of order) {
    const row = byId.get(id) as ILineageRow;
    nodes.set(id, {
      trackId: id,
      column: columns.get(id) as number,
      start: row.start,
      end: row.end,
      parentId: row.parent_id
    });
    for (const child of children.get(id) ?? []) {
      edges.push([id, child]);
    }
  }
  const leaves = order.filter(id => !children.has(id)).length;
  return { nodes, columns: leaves, edges };
}

function indexRows(rows: readonly ILineageRow[]): Map<number, ILineageRow> {
  const byId = new Map<number, ILineageRow>();
  for (const row of rows) {
    const id = row.track_id;
    if (!(Number.isInteger(id) && id > 0)) {
      throw new Error(`lineage track ids are positive integers (0 means no parent), got ${id}`);
    }
    if (byId.has(id)) {
      throw new Error(`lineage has track ${id} twice`);
    }
    if (row.end < row.start) {
      throw new Error(`lineage track ${id} ends (${row.end}) before it starts (${row.start})`);
    }
    byId.set(id, row);
  }
  return byId;
}

/** Each present parent's children, by increasing id. */
function childrenOf(byId: Map<number, ILineageRow>): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const row of byId.values()) {
    if (byId.has(row.parent_id)) {
      const list = children.get(row.parent_id) ?? [];
      list.push(row.track_id);
      children.set(row.parent_id, list);
    }
  }
  for (const list of children.values()) {
    list.sort((a, b) => a - b);
  }
  return children;
}

/** Pre-order of the trees from `roots` (in turn), children by increasing id. */
function depthFirst(roots: number[], children: Map<number, number[]>): number[] {
  const order: number[] = [];
  const stack = [...roots].reverse();
  while (stack.length > 0) {
    const id = stack.pop() as number;
    order.push(id);
    const kids = children.get(id) ?? [];
    for (let i = kids.length - 1; i >= 0; i--) {
      stack.push(kids[i] as number);
    }
  }
  return order;
}

/**
 * Leaves in pre-order take 0, 1, 2, ...; then, backwards through the pre-order (children come
 * after their parent), each parent the mean of its children's columns.
 */
function assignColumns(order: number[], children: Map<number, number[]>): Map<number, number> {
  const columns = new Map<number, number>();
  let leaf = 0;
  for (const id of order) {
    if (!children.has(id)) {
      columns.set(id, leaf++);
    }
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const kids = children.get(order[i] as number);
    if (kids) {
      const sum = kids.reduce((s, k) => s + (columns.get(k) as number), 0);
      columns.set(order[i] as number, sum / kids.length);
    }
  }
  return columns;
}

/**
 * A cycle among the tracks no root reaches: following parents from any of them must loop,
 * as every track has one parent and a chain that ended would have ended at a root.
 */
function findCycle(byId: Map<number, ILineageRow>, reached: number[]): number[] {
  const seen = new Set(reached);
  let id = [...byId.keys()].find(k => !seen.has(k)) as number;
  const path: number[] = [];
  const onPath = new Map<number, number>();
  while (!onPath.has(id)) {
    onPath.set(id, path.length);
    path.push(id);
    id = (byId.get(id) as ILineageRow).parent_id;
  }
  return [...path.slice(onPath.get(id)), id];
}
