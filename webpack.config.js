// Merged into @jupyter/builder's bundler config (package.json "jupyterlab.webpackConfig").
module.exports = {
  // onnxruntime-web's bundle probes for `require` on purpose (it also runs in Node); the
  // bundler's warning about that is noise.
  ignoreWarnings: [{ module: /onnxruntime-web/ }],
  // The WASM runtime (27 MiB) and the model (4.5 MB) are large by nature; the engine's worker
  // fetches them once, on the first tracking job.
  performance: { hints: false },
  module: {
    rules: [
      {
        // onnxruntime-web's WebAssembly loader script, where the engine names it by URL
        // (src/engine/assets.ts): a file of its own, not a module of the bundle, for each thread
        // of a threaded run loads it again by that URL. The bundle's own import of it stays.
        test: /ort-wasm-simd-threaded\.jsep\.mjs$/,
        dependency: 'url',
        type: 'asset/resource'
      }
    ]
  }
};
