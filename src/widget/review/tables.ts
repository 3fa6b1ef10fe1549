/**
 * The result's tables as the review viewer holds them (columns, as the kernel's `ReviewWidget`
 * sends them), and what the review needs from them: divisions in review order, and the
 * tracks a reviewer may pick when relinking a division.
 */

import tablesSchema from '../../../schema/tables.schema.json';
import { tablesCheck } from '../../contracts';
import type { ILineageRow } from './lineage-layout';
import { TrackIndex } from './track-index';

export type { ILineageRow };

export type DivisionStatus = 'proposed' | 'accepted' | 'rejected';

export interface ITrackColumns {
  track_id: number[];
  t: number[];
  y: number[];
  x: number[];
  visibility: number[];
}

export interface ILineageColumns {
  track_id: number[];
  start: number[];
  end: number[];
  parent_id: number[];
}

export interface IDivisionColumns {
  parent_id: number[];
  t: number[];
  daughter_a: number[];
  daughter_b: number[];
  score: number[];
  status: DivisionStatus[];
}

export interface IDivision {
  parentId: number;
  t: number;
  daughters: [number, number];
  score: number;
  status: DivisionStatus;
}

/** A track the reviewer may pick, with its distance from the division being relinked. */
export interface ICandidate {
  trackId: number;
  distance: number;
}

function column<T>(columns: object, name: string): T[] {
  const values = (columns as Record<string, unknown>)[name];
  return Array.isArray(values) ? (values as T[]) : [];
}

/** Rows of the lineage table. */
export function lineageRows(columns: Partial<ILineageColumns>): ILineageRow[] {
  const ids = column<number>(columns, 'track_id');
  const start = column<number>(columns, 'start');
  const end = column<number>(columns, 'end');
  const parent = column<number>(columns, 'parent_id');
  return ids.map((id, i) => ({
    track_id: id,
    start: start[i] ?? 0,
    end: end[i] ?? 0,
    parent_id: parent[i] ?? 0
  }));
}

/** Divisions in the order a reviewer checks them: least sure first (then by time). */
export function divisionsForReview(columns: Partial<IDivisionColumns>): IDivision[] {
  const parent = column<number>(columns, 'parent_id');
  const t = column<number>(columns, 't');
  const a = column<number>(columns, 'daughter_a');
  const b = column<number>(columns, 'daughter_b');
  const score = column<number>(columns, 'score');
  const status = column<DivisionStatus>(columns, 'status');
  const rows: IDivision[] = parent.map((p, i) => ({
    parentId: p,
    t: t[i] ?? 0,
    daughters: [a[i] ?? 0, b[i] ?? 0],
    score: score[i] ?? 0,
    status: status[i] ?? 'proposed'
  }));
  return rows.sort((x, y) => x.score - y.score || x.t - y.t || x.parentId - y.parentId);
}

/** The reviewed tables: points by frame, lineage rows by track, divisions in review order. */
export class ReviewTables {
  readonly index: TrackIndex;
  readonly lineage: ILineageRow[];
  readonly divisions: IDivision[];

  constructor(
    tracks: Partial<ITrackColumns>,
    lineage: Partial<ILineageColumns>,
    divisions: Partial<IDivisionColumns>
  ) {
    this.index = new TrackIndex({
      track_id: column<number>(tracks, 'track_id'),
      t: column<number>(tracks, 't'),
      y: column<number>(tracks, 'y'),
      x: column<number>(tracks, 'x'),
      visibility: column<number>(tracks, 'visibility')
    });
    this.lineage = lineageRows(lineage);
    this.divisions = divisionsForReview(divisions);
    this._rows = new Map(this.lineage.map(r => [r.track_id, r]));
  }

  row(trackId: number): ILineageRow | undefined {
    return this._rows.get(trackId);
  }

  /** The division whose mother or daughter is `trackId`, if any. */
  divisionOf(trackId: number): IDivision | undefined {
    return this.divisions.find(d => d.parentId === trackId || d.daughters.includes(trackId));
  }

  /**
   * Tracks that could be the mother of `division` instead: they end on the frame before its
   * daughters start and have no daughters of their own (or are its mother), nearest first.
   */
  motherCandidates(division: IDivision, limit = 8): ICandidate[] {
    const free = (r: ILineageRow): boolean =>
      r.track_id === division.parentId ||
      !this.lineage.some(
        c => c.parent_id === r.track_id && !division.daughters.includes(c.track_id)
      );
    const ends = this.lineage.filter(r => r.end === division.t - 1 && free(r));
    return this._nearest(
      ends.map(r => r.track_id),
      division.t - 1,
      this._centre(division.daughters, division.t),
      limit
    );
  }

  /**
   * Tracks that could be a daughter of `division` instead: they start on its frame and are
   * roots or already its daughters, nearest its mother's last point first.
   */
  daughterCandidates(division: IDivision, limit = 8): ICandidate[] {
    const starts = this.lineage.filter(
      r =>
        r.start === division.t &&
        (r.parent_id === 0 ||
          r.parent_id === division.parentId ||
          division.daughters.includes(r.track_id))
    );
    return this._nearest(
      starts.map(r => r.track_id),
      division.t,
      this._centre([division.parentId], division.t - 1),
      limit
    );
  }

  private _centre(ids: number[], t: number): [number, number] | undefined {
    const points = ids
      .map(id => this.index.position(id, t))
      .filter((p): p is [number, number] => p !== undefined);
    if (!points.length) {
      return undefined;
    }
    const y = points.reduce((s, p) => s + p[0], 0) / points.length;
    const x = points.reduce((s, p) => s + p[1], 0) / points.length;
    return [y, x];
  }

  private _nearest(
    ids: number[],
    t: number,
    centre: [number, number] | undefined,
    limit: number
  ): ICandidate[] {
    const scored = ids.map(trackId => {
      const p = this.index.position(trackId, t);
      const distance =
        p && centre ? Math.hypot(p[0] - centre[0], p[1] - centre[1]) : Number.POSITIVE_INFINITY;
      return { trackId, distance };
    });
    scored.sort((a, b) => a.distance - b.distance || a.trackId - b.trackId);
    return scored.slice(0, limit);
  }

  private _rows: Map<number, ILineageRow>;
}

/** What changed since frame `since`: the kernel's `grow` message (cellpoint.review.widget). */
export interface ITablesGrowth {
  since: number;
  tracks: ITrackColumns;
  lineage: ILineageColumns;
  divisions: IDivisionColumns;
}

type Columns = Record<string, unknown[]>;

/** The rows of `columns` in the order `order` gives (indices into them). */
function pick<T extends object>(columns: T, order: number[]): T {
  const out: Columns = {};
  for (const [name, values] of Object.entries(columns as Columns)) {
    out[name] = order.map(i => values[i]);
  }
  return out as T;
}

/** `a` then `b`, column by column (the columns of `b`, which has them all). */
function concat<T extends object>(a: T, b: T): T {
  const out: Columns = {};
  for (const [name, values] of Object.entries(b as Columns)) {
    out[name] = [...column<unknown>(a, name), ...values];
  }
  return out as T;
}

function rowsWhere<T extends object>(columns: T, keep: (i: number) => boolean): T {
  const n = column<unknown>(columns, Object.keys(columns)[0] ?? '').length;
  return pick(columns, Array.from({ length: n }, (_, i) => i).filter(keep));
}

function sortedBy<T extends object>(columns: T, ...keys: string[]): T {
  const values = keys.map(k => column<number>(columns, k));
  const n = values[0]?.length ?? 0;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => {
    for (const v of values) {
      const d = (v[i] as number) - (v[j] as number);
      if (d !== 0) {
        return d;
      }
    }
    return 0;
  });
  return pick(columns, order);
}

/**
 * The tables tracking had at a checkpoint, grown to the next: rows up to `since` are final, so
 * the growth's tracks rows (after `since`) and divisions (born after it) join them, and its
 * lineage rows (the tracks living at `since` or born after) replace those of the same tracks.
 * In the kernel's order: tracks by (track_id, t), lineage by track_id, divisions by (t,
 * parent_id).
 */
export function growTables(
  tracks: ITrackColumns,
  lineage: ILineageColumns,
  divisions: IDivisionColumns,
  growth: ITablesGrowth
): { tracks: ITrackColumns; lineage: ILineageColumns; divisions: IDivisionColumns } {
  const { since } = growth;
  const oldTracks = rowsWhere(tracks, i => (tracks.t[i] as number) <= since);
  const renewed = new Set(growth.lineage.track_id);
  const oldLineage = rowsWhere(lineage, i => !renewed.has(lineage.track_id[i] as number));
  const oldDivisions = rowsWhere(divisions, i => (divisions.t[i] as number) <= since);
  return {
    tracks: sortedBy(concat(oldTracks, growth.tracks), 'track_id', 't'),
    lineage: sortedBy(concat(oldLineage, growth.lineage), 'track_id'),
    divisions: sortedBy(concat(oldDivisions, growth.divisions), 't', 'parent_id')
  };
}

/** Throws where the tables break schema/tables.schema.json (which the kernel keeps too). */
export const checkTables = tablesCheck(tablesSchema);
