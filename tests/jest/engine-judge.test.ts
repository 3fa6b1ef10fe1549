/**
 * The division judge's parts in TypeScript against the Python reference (tests/vectors/
 * judge.json, written by tests/python/make_vectors.py): brightness boxes, the pair features and
 * a tree ensemble's log-odds must be Python's to the bit, for RAW compares them with thresholds.
 */
import {
  BOX_RADIUS,
  boxMean,
  CANDIDATE_SCORE,
  FEATURES,
  HISTORY,
  JudgeData,
  judgeLogOdds,
  pairFeatures,
  treeJudge
} from '../../src/engine';
import { dec, Encoded, load } from './vectors';

interface JudgeVector {
  constants: Record<string, number | string>;
  frame: Encoded;
  boxes: { x: number; y: number; mean: number }[];
  pairs: {
    score: number;
    half: number;
    gap: number;
    alive: boolean;
    history: Encoded;
    sisters: Encoded;
    features: Encoded;
  }[];
  judge: string;
  samples: Encoded;
  log_odds: Encoded;
}

const v = load<JudgeVector>('judge.json');

describe('the division judge against the Python reference', () => {
  it("has Python's constants", () => {
    expect(v.constants).toEqual({
      BOX_RADIUS,
      HISTORY,
      CANDIDATE_SCORE,
      FEATURES: FEATURES.join(' ')
    });
  });

  it('averages the same boxes, cut at the frame edges', () => {
    const [height, width] = v.frame.shape as [number, number];
    const frame = { data: dec(v.frame) as Float32Array, height, width };
    expect(v.boxes.length).toBeGreaterThanOrEqual(6);
    for (const box of v.boxes) {
      expect([box.x, box.y, boxMean(frame, box.x, box.y)]).toEqual([box.x, box.y, box.mean]);
    }
  });

  it('makes the same features from histories of every length', () => {
    const lengths = v.pairs.map(p => p.history.shape[0]);
    expect(lengths).toEqual(Array.from({ length: HISTORY }, (_, k) => k + 1));
    for (const p of v.pairs) {
      const sisters = Array.from(dec(p.sisters)) as [number, number];
      const got = pairFeatures(
        p.score,
        p.half,
        p.gap,
        p.alive,
        Array.from(dec(p.history)),
        sisters
      );
      expect(got).toEqual(Array.from(dec(p.features)));
    }
  });

  it('sums the same log-odds, comparing float32 features as scikit-learn does', () => {
    const judge = JSON.parse(v.judge) as JudgeData;
    const samples = dec(v.samples) as Float64Array;
    const expected = Array.from(dec(v.log_odds));
    const n = FEATURES.length;
    const got = expected.map((_, i) =>
      judgeLogOdds(judge, Array.from(samples.slice(i * n, (i + 1) * n)))
    );
    expect(got).toEqual(expected);
    // The samples straddle the thresholds: both sides of every tree are taken.
    expect(new Set(got).size).toBeGreaterThanOrEqual(4);
  });

  it('decides by the log-odds cut and refuses a judge of other features', () => {
    const judge = JSON.parse(v.judge) as JudgeData;
    const decide = treeJudge(judge);
    const features = [0.9, 8, 1, 1, 6, 0.4, 0.3, 0.2, 0.1, 0.2, 0.2];
    const candidate = { t: 10, pair: [0, 0, 16, 0, 0.9] as const, mother: [8, 0] as const };
    expect(decide({ ...candidate, features })).toBe(true);
    expect(decide({ ...candidate, features: features.map((f, i) => (i === 6 ? 0 : f)) })).toBe(
      false
    );
    const other = { ...judge, features: [...judge.features].reverse() };
    expect(() => treeJudge(other)).toThrow(/reads/);
  });
});
