/**
 * The tracking job's comm messages, the browser's side of `cellpoint.job` (python_stub):
 * the schema both sides check (schema/job-messages.schema.json), and
 * RAW's tables cut into parts under `MAX_MESSAGE_BYTES` and put together again.
 */

import schema from '../../schema/job-messages.schema.json';
import { bytesOf } from '../comm-buffers';
import type { IReply } from '../comm-requests';
import { messageCheck } from '../contracts';
import type { RawCheckpoint, RawResult } from '../engine/raw';

export const PROTOCOL = 3;
/** The server takes websocket messages of up to 10 MiB; parts stay well under. */
export const MAX_MESSAGE_BYTES = 8 * 2 ** 20;

type ColumnType = 'int32' | 'float32' | 'float64';
type TableName = 'tracks' | 'lineage' | 'divisions' | 'sisters' | 'windows';
export type TablesKind = 'checkpoint' | 'result' | 'partial' | 'resume';

const TABLES: readonly TableName[] = ['tracks', 'lineage', 'divisions', 'sisters', 'windows'];

/** Every column of every table, in the order they travel (the schema's `x-wire-columns`). */
const COLUMNS: readonly [TableName, string, ColumnType][] = TABLES.flatMap(table =>
  Object.entries(schema['x-wire-columns'][table]).map(
    ([name, dtype]) => [table, name, dtype as ColumnType] as [TableName, string, ColumnType]
  )
);

const ARRAYS = { int32: Int32Array, float32: Float32Array, float64: Float64Array } as const;

/**
 * A result table as the kernel sends it outside a job (the review viewer's state and growth):
 * the columns the wire names as little-endian typed arrays (DataViews, once ipywidgets has put
 * the buffers back), the others as they are; returned with every column a plain array.
 */
export function decodeTable(table: 'tracks' | 'lineage' | 'divisions', state: object): object {
  const wire = schema['x-wire-columns'][table] as Record<string, ColumnType>;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(state)) {
    const dtype = wire[name];
    if (dtype && value instanceof DataView) {
      out[name] = Array.from(new ARRAYS[dtype](bytesOf(value)));
    } else {
      out[name] = value;
    }
  }
  return out;
}

export interface ColumnMeta {
  table: TableName;
  name: string;
  dtype: ColumnType;
  offset: number;
  length: number;
}

export interface TablesMessage {
  type: 'tables';
  seq: number;
  kind: TablesKind;
  part: number;
  parts: number;
  t_cur: number;
  rows: Record<TableName, number>;
  columns: ColumnMeta[];
}

/** What the kernel sends (checked with `checkFromKernel` before use). */
export type FromKernel =
  | { type: 'start'; resume_seq: number | null }
  | (IReply & { ok: true; first: number; count: number; dtype: string })
  | (IReply & { ok: false; error: string })
  | TablesMessage
  | { type: 'cancel'; reason: string };

/** The message, if it keeps the contract; else an error saying how it breaks it. */
export const checkFromKernel = messageCheck<FromKernel>(schema, 'toBrowser');

function columnOf(raw: RawResult, table: TableName, name: string): ArrayLike<number> {
  if (table === 'windows') {
    const key = name as 'first' | 'length' | 'queries';
    return raw.windows.map(w => w[key]);
  }
  return (raw[table] as unknown as Record<string, ArrayLike<number>>)[name] as ArrayLike<number>;
}

/** The tables (model pixels) as messages with their buffers, each under MAX_MESSAGE_BYTES. */
export function encodeTables(
  raw: RawResult,
  seq: number,
  kind: TablesKind,
  tCur: number
): [TablesMessage, ArrayBuffer[]][] {
  const half = MAX_MESSAGE_BYTES / 2;
  const chunks: [ColumnMeta, ArrayBuffer][] = [];
  for (const [table, name, dtype] of COLUMNS) {
    const values = ARRAYS[dtype].from(columnOf(raw, table, name));
    const step = Math.max(1, Math.floor(half / values.BYTES_PER_ELEMENT));
    for (let offset = 0; offset < Math.max(values.length, 1); offset += step) {
      const piece = values.slice(offset, offset + step);
      chunks.push([{ table, name, dtype, offset, length: piece.length }, piece.buffer]);
    }
  }
  const rows = {
    tracks: raw.tracks.track_id.length,
    lineage: raw.lineage.track_id.length,
    divisions: raw.divisions.parent_id.length,
    sisters: raw.sisters.t.length,
    windows: raw.windows.length
  };
  const parts: [ColumnMeta, ArrayBuffer][][] = [[]];
  let size = 0;
  for (const chunk of chunks) {
    const current = parts[parts.length - 1] as [ColumnMeta, ArrayBuffer][];
    if (current.length && size + chunk[1].byteLength > half) {
      parts.push([chunk]);
      size = chunk[1].byteLength;
    } else {
      current.push(chunk);
      size += chunk[1].byteLength;
    }
  }
  return parts.map((part, i) => [
    {
      type: 'tables',
      seq,
      kind,
      part: i,
      parts: parts.length,
      t_cur: tCur,
      rows,
      columns: part.map(([meta]) => meta)
    },
    part.map(([, buffer]) => buffer)
  ]);
}

/** Parts of one set of tables put together again: a checkpoint to resume from. */
export class TablesAssembly {
  private readonly columns = new Map<string, Int32Array | Float32Array | Float64Array>();
  private readonly seen = new Set<number>();

  constructor(private readonly first: TablesMessage) {}

  add(message: TablesMessage, buffers: ArrayBuffer[] | DataView[]): void {
    if (message.kind !== this.first.kind || message.parts !== this.first.parts) {
      throw new Error(`tables ${message.seq}: parts disagree on kind or count`);
    }
    if (this.seen.has(message.part) || message.part >= message.parts) {
      throw new Error(`tables ${message.seq}: part ${message.part} again or out of range`);
    }
    if (buffers.length !== message.columns.length) {
      throw new Error(
        `tables ${message.seq}: ${message.columns.length} columns, ${buffers.length} buffers`
      );
    }
    this.seen.add(message.part);
    message.columns.forEach((meta, i) => {
      const known = COLUMNS.find(([t, n]) => t === meta.table && n === meta.name);
      if (!known || known[2] !== meta.dtype) {
        throw new Error(`tables: ${meta.table}.${meta.name} is not a ${meta.dtype} column`);
      }
      const buffer = buffers[i] as ArrayBuffer | DataView;
      const bytes =
        buffer instanceof DataView
          ? buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
          : buffer;
      const values = new ARRAYS[meta.dtype](bytes as ArrayBuffer);
      const rows = this.first.rows[meta.table];
      if (values.length !== meta.length || meta.offset + values.length > rows) {
        throw new Error(`tables: ${meta.table}.${meta.name} chunk does not fit its rows`);
      }
      const key = `${meta.table}.${meta.name}`;
      let column = this.columns.get(key);
      if (!column) {
        column = new ARRAYS[meta.dtype](rows);
        this.columns.set(key, column);
      }
      column.set(values, meta.offset);
    });
  }

  get complete(): boolean {
    return this.seen.size === this.first.parts;
  }

  checkpoint(): RawCheckpoint {
    const get = (table: TableName, name: string): Int32Array | Float32Array | Float64Array => {
      const column = this.columns.get(`${table}.${name}`);
      if (column) {
        return column;
      }
      if (this.first.rows[table] === 0) {
        const dtype = (
          COLUMNS.find(([t, n]) => t === table && n === name) as [TableName, string, ColumnType]
        )[2];
        return new ARRAYS[dtype](0);
      }
      throw new Error(`tables: ${table}.${name} never arrived`);
    };
    const i32 = (table: TableName, name: string): Int32Array => get(table, name) as Int32Array;
    const f32 = (table: TableName, name: string): Float32Array => get(table, name) as Float32Array;
    const first = i32('windows', 'first');
    const tables: RawResult = {
      tracks: {
        track_id: i32('tracks', 'track_id'),
        t: i32('tracks', 't'),
        x: get('tracks', 'x') as Float64Array,
        y: get('tracks', 'y') as Float64Array,
        visibility: get('tracks', 'visibility') as Float32Array
      },
      lineage: {
        track_id: i32('lineage', 'track_id'),
        start: i32('lineage', 'start'),
        end: i32('lineage', 'end'),
        parent_id: i32('lineage', 'parent_id')
      },
      divisions: {
        parent_id: i32('divisions', 'parent_id'),
        t: i32('divisions', 't'),
        daughter_a: i32('divisions', 'daughter_a'),
        daughter_b: i32('divisions', 'daughter_b'),
        score: get('divisions', 'score') as Float64Array
      },
      sisters: {
        t: i32('sisters', 't'),
        xa: f32('sisters', 'xa'),
        ya: f32('sisters', 'ya'),
        xb: f32('sisters', 'xb'),
        yb: f32('sisters', 'yb'),
        score: f32('sisters', 'score')
      },
      windows: Array.from(first, (f, i) => ({
        first: f,
        length: i32('windows', 'length')[i] as number,
        queries: i32('windows', 'queries')[i] as number
      }))
    };
    return { tables, tCur: this.first.t_cur };
  }
}
