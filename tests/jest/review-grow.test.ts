import {
  IDivisionColumns,
  ILineageColumns,
  ITrackColumns,
  checkTables,
  growTables
} from '../../src/widget/review/tables';

// A mother (1) followed to frame 2, then dividing into 3 and 4 at frame 4; a cell (2) ending
// at frame 3. The first checkpoint holds frames 0-2, the second frames 0-4.
const tracksUntil2: ITrackColumns = {
  track_id: [1, 1, 1, 2, 2, 2],
  t: [0, 1, 2, 0, 1, 2],
  y: [10, 11, 12, 50, 50, 50],
  x: [10, 10, 10, 50, 51, 52],
  visibility: [1, 1, 1, 1, 1, 1]
};
const lineageUntil2: ILineageColumns = {
  track_id: [1, 2],
  start: [0, 0],
  end: [2, 2],
  parent_id: [0, 0]
};
const noDivisions: IDivisionColumns = {
  parent_id: [],
  t: [],
  daughter_a: [],
  daughter_b: [],
  score: [],
  status: []
};

describe('growTables', () => {
  it('gives the tables of the later checkpoint, in the kernel order', () => {
    const grown = growTables(tracksUntil2, lineageUntil2, noDivisions, {
      since: 2,
      tracks: {
        track_id: [1, 2, 3, 4],
        t: [3, 3, 4, 4],
        y: [13, 50, 10, 16],
        x: [10, 53, 8, 12],
        visibility: [1, 1, 0.9, 0.8]
      },
      lineage: {
        track_id: [1, 2, 3, 4],
        start: [0, 0, 4, 4],
        end: [3, 3, 4, 4],
        parent_id: [0, 0, 1, 1]
      },
      divisions: {
        parent_id: [1],
        t: [4],
        daughter_a: [3],
        daughter_b: [4],
        score: [0.8],
        status: ['proposed']
      }
    });
    expect(grown.tracks.track_id).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 4]);
    expect(grown.tracks.t).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 4, 4]);
    expect(grown.tracks.x).toEqual([10, 10, 10, 10, 50, 51, 52, 53, 8, 12]);
    expect(grown.lineage).toEqual({
      track_id: [1, 2, 3, 4],
      start: [0, 0, 4, 4],
      end: [3, 3, 4, 4],
      parent_id: [0, 0, 1, 1]
    });
    expect(grown.divisions.parent_id).toEqual([1]);
    expect(grown.divisions.status).toEqual(['proposed']);
  });

  it('grows from nothing', () => {
    const empty = { track_id: [], t: [], y: [], x: [], visibility: [] };
    const grown = growTables(
      empty,
      { track_id: [], start: [], end: [], parent_id: [] },
      noDivisions,
      {
        since: -1,
        tracks: tracksUntil2,
        lineage: lineageUntil2,
        divisions: noDivisions
      }
    );
    expect(grown.tracks).toEqual(tracksUntil2);
    expect(grown.lineage).toEqual(lineageUntil2);
  });
});

describe('checkTables', () => {
  it('takes tables that keep the contract and names what breaks it', () => {
    expect(() =>
      checkTables({ tracks: tracksUntil2, lineage: lineageUntil2, divisions: noDivisions })
    ).not.toThrow();
    expect(() =>
      checkTables({
        tracks: { ...tracksUntil2, visibility: [1, 1, 1, 1, 1, 2] },
        lineage: lineageUntil2,
        divisions: noDivisions
      })
    ).toThrow('the tables break their contract: /tracks/visibility/5 must be <= 1');
    expect(() =>
      checkTables({ tracks: tracksUntil2, lineage: { track_id: [1, 2] }, divisions: noDivisions })
    ).toThrow("/lineage must have required property 'start'");
  });
});
