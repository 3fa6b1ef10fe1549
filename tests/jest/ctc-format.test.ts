import { TrackFileError, formatTrackFile, parseTrackFile } from '../../src/formats/ctc';

describe('CTC track file', () => {
  it('parses L B E P lines, skipping blank lines', () => {
    const rows = parseTrackFile('1 0 9 0\n\n2 10 20 1\r\n3 10 15 1\n');
    expect(rows).toEqual([
      { track_id: 1, start: 0, end: 9, parent_id: 0 },
      { track_id: 2, start: 10, end: 20, parent_id: 1 },
      { track_id: 3, start: 10, end: 15, parent_id: 1 }
    ]);
  });

  it('round-trips through format, sorted by track id', () => {
    const rows = [
      { track_id: 3, start: 10, end: 15, parent_id: 1 },
      { track_id: 1, start: 0, end: 9, parent_id: 0 }
    ];
    const text = formatTrackFile(rows);
    expect(text).toBe('1 0 9 0\n3 10 15 1\n');
    expect(parseTrackFile(text)).toEqual([rows[1], rows[0]]);
  });

  it.each([
    ['1 0 9', 'line 1: expected four non-negative integers'],
    ['1 0 9 0\n2 a 3 0', 'line 2: expected four non-negative integers "L B E P", got "2 a 3 0"'],
    ['1 0 9.5 0', 'expected four non-negative integers'],
    ['1 -1 9 0', 'expected four non-negative integers'],
    ['0 0 9 0', 'line 1: track label must be >= 1, got 0'],
    ['4 9 2 0', 'line 1: track 4 ends (2) before it begins (9)']
  ])('rejects %j', (text, message) => {
    expect(() => parseTrackFile(text)).toThrow(TrackFileError);
    expect(() => parseTrackFile(text)).toThrow(message);
  });
});
