/**
 * The tracking engine: preprocessing, heatmap peaks, RAW inference, the CAP network in
 * onnxruntime-web and the pipeline that joins them, with no DOM, so that it runs in a Web
 * Worker. The Python package holds the reference of each (`cellpoint.engine.preprocess`,
 * `cellpoint.engine.raw`, `cellpoint.engine.infer`); tests/vectors hold both hosts to the same
 * answers.
 */

export * from './preprocess';
export * from './peaks';
export * from './raw';
export * from './judge';
export * from './sha256';
export * from './model';
export * from './runtime';
export * from './threads';
export * from './pipeline';
