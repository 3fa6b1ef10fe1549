/**
 * The tracking engine: preprocessing, heatmap peaks and RAW inference in plain typed arrays,
 * with no DOM, so that it runs in a Web Worker. The Python package holds the reference of each
 * (`cellpoint.preprocess`, `cellpoint.raw`); tests/vectors hold both hosts to the same answers.
 */

export * from './preprocess';
export * from './peaks';
export * from './raw';
