/**
 * The division judge: the browser's twin of `cellpoint.engine.judge` (which says why it exists),
 * held to it by the shared RAW vectors. Whether a sister pair is a division, from its sister
 * score and geometry and its mother's brightness over the frames before.
 */

/** Box half-side (model px) of a point's brightness: a 7 x 7 box. */
export const BOX_RADIUS = 3;
/** Frames of the mother's past the judge reads. */
export const HISTORY = 6;
/** Sister pairs from this peak value up are judged. */
export const CANDIDATE_SCORE = 0.1;
/** The judge's inputs, in order (Python's `FEATURES` says what each is). */
export const FEATURES = [
  'score',
  'half',
  'gap',
  'alive',
  'span',
  'ref',
  'd1',
  'd2',
  'd3',
  'dmin',
  'dmax'
] as const;

/** A preprocessed model frame `[height * width]`, row-major. */
export interface ModelFrame {
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

/** Mean of the frame over the box around the pixel nearest (x, y), cut at the edges. */
export function boxMean(frame: ModelFrame, x: number, y: number): number {
  const { data, height: h, width: w } = frame;
  const ix = Math.min(w - 1, Math.max(0, Math.floor(x + 0.5)));
  const iy = Math.min(h - 1, Math.max(0, Math.floor(y + 0.5)));
  const x0 = Math.max(0, ix - BOX_RADIUS);
  const x1 = Math.min(w, ix + BOX_RADIUS + 1);
  const y0 = Math.max(0, iy - BOX_RADIUS);
  const y1 = Math.min(h, iy + BOX_RADIUS + 1);
  let total = 0;
  for (let r = y0; r < y1; r++) {
    for (let c = x0; c < x1; c++) {
      total += data[r * w + c] as number;
    }
  }
  return total / ((x1 - x0) * (y1 - y0));
}

/**
 * FEATURES of one candidate: `history` is the mother's brightness at t - 1, t - 2, ... for as
 * many consecutive frames back as she was followed (1 to HISTORY), `sisters` the sisters'
 * brightness at t.
 */
export function pairFeatures(
  score: number,
  half: number,
  gap: number,
  alive: boolean,
  history: readonly number[],
  sisters: readonly [number, number]
): number[] {
  if (!(history.length >= 1 && history.length <= HISTORY)) {
    throw new RangeError(`history needs 1 to ${HISTORY} values, got ${history.length}`);
  }
  const old =
    history.length > HISTORY - 3
      ? history.slice(HISTORY - 3).sort((a, b) => a - b)
      : [history[history.length - 1] as number];
  const middle = Math.floor(old.length / 2);
  const ref =
    old.length % 2
      ? (old[middle] as number)
      : ((old[middle - 1] as number) + (old[middle] as number)) / 2;
  const recent = [0, 1, 2].map(k => (k < history.length ? (history[k] as number) - ref : 0));
  const [low, high] = sisters[0] <= sisters[1] ? sisters : [sisters[1], sisters[0]];
  return [score, half, gap, alive ? 1 : 0, history.length, ref, ...recent, low - ref, high - ref];
}

/** One tree's rows: [feature (-1: a leaf), threshold, left, right, value]. */
export type TreeRows = readonly (readonly [number, number, number, number, number])[];

/** The judge as `judge.json` holds it (Python's `TreeJudge.to_json`). */
export interface JudgeData {
  readonly features: readonly string[];
  readonly baseline: number;
  readonly learning_rate: number;
  /** The probability above which RAW splits the mother... */
  readonly threshold: number;
  /** ...as log-odds, which is what both hosts compare (sums alone: no exp or log to round). */
  readonly cut: number;
  readonly trees: readonly TreeRows[];
}

/** A sister pair and the track it would split (Python's `PairCandidate`). */
export interface PairCandidate {
  readonly t: number;
  /** xa, ya, xb, yb, score (model px). */
  readonly pair: readonly [number, number, number, number, number];
  /** The mother's point at t - 1. */
  readonly mother: readonly [number, number];
  readonly features: readonly number[];
}

/** Whether a candidate is a division. */
export type PairJudge = (candidate: PairCandidate) => boolean;

/** The log-odds that a pair is a division, as scikit-learn's trees give it. */
export function judgeLogOdds(judge: JudgeData, features: readonly number[]): number {
  const x = features.map(Math.fround); // scikit-learn's trees compare float32 features
  let raw = judge.baseline;
  for (const tree of judge.trees) {
    let row = tree[0] as TreeRows[number];
    while (row[0] >= 0) {
      const next = (x[row[0]] as number) <= row[1] ? row[2] : row[3];
      row = tree[next] as TreeRows[number];
    }
    raw += judge.learning_rate * row[4];
  }
  return raw;
}

/** The judge as RAW calls it; throws if it reads other features than this engine makes. */
export function treeJudge(judge: JudgeData): PairJudge {
  if (judge.features.join() !== FEATURES.join()) {
    throw new Error(
      `the judge reads ${judge.features.join(', ')}, this engine makes ${FEATURES.join(', ')}`
    );
  }
  return candidate => judgeLogOdds(judge, candidate.features) > judge.cut;
}
