// Merged into @jupyter/builder's bundler config (package.json "jupyterlab.webpackConfig").
module.exports = {
  // onnxruntime-web's bundle probes for `require` on purpose (it also runs in Node); the
  // bundler's warning about that is noise.
  ignoreWarnings: [{ module: /onnxruntime-web/ }],
  // The WASM runtime (27 MiB) and the model (4.5 MB) are large by nature; the engine's worker
  // fetches them once, on the first tracking job.
  performance: { hints: false }
};
