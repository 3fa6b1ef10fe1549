/**
 * The Cell Tracking Challenge's track file (`res_track.txt`, `man_track.txt`): one line
 * `L B E P` per track, the same meaning as cellpoint's lineage table.
 */

/** One lineage row: a track, its first and last frame (inclusive) and its parent (0 = none). */
export interface ILineageRow {
  track_id: number;
  start: number;
  end: number;
  parent_id: number;
}

/** Raised for a track file that is not four non-negative integers per line. */
export class TrackFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrackFileError';
  }
}

/** Parses a CTC track file; blank lines are skipped, anything else malformed is an error. */
export function parseTrackFile(text: string): ILineageRow[] {
  const rows: ILineageRow[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '') {
      return;
    }
    const fields = trimmed.split(/\s+/);
    const values = fields.map(Number);
    if (fields.length !== 4 || values.some(v => !Number.isInteger(v) || v < 0)) {
      throw new TrackFileError(
        `line ${index + 1}: expected four non-negative integers "L B E P", got "${trimmed}"`
      );
    }
    const [track_id, start, end, parent_id] = values as [number, number, number, number];
    if (track_id < 1) {
      throw new TrackFileError(`line ${index + 1}: track label must be >= 1, got ${track_id}`);
    }
    if (end < start) {
      throw new TrackFileError(
        `line ${index + 1}: track ${track_id} ends (${end}) before it begins (${start})`
      );
    }
    rows.push({ track_id, start, end, parent_id });
  });
  return rows;
}

/** Formats lineage rows as a CTC track file, sorted by track id. */
export function formatTrackFile(rows: readonly ILineageRow[]): string {
  return [...rows]
    .sort((a, b) => a.track_id - b.track_id)
    .map(r => `${r.track_id} ${r.start} ${r.end} ${r.parent_id}\n`)
    .join('');
}
