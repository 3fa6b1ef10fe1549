// Merged into @jupyter/builder's bundler config (package.json "jupyterlab.webpackConfig").
module.exports = {
  // onnxruntime-web's bundle probes for `require` on purpose (it also runs in Node); the
  // bundler's warning about that is noise.
  ignoreWarnings: [{ module: /onnxruntime-web/ }],
  // The WASM runtimes (28 and 14 MB) and the model (4.5 MB) are large by nature; the worker
  // fetches the one it needs once, on its first tracking job.
  performance: { hints: false },
  module: {
    rules: [
      {
        // onnxruntime-web's WebAssembly loader scripts, where the engine names them by URL
        // (src/engine/assets.ts): files of their own, not modules of the bundle, for each thread
        // of a threaded run loads its build's script again by that URL. The bundle's own import
        // of the JSEP one stays.
        test: /ort-wasm-simd-threaded(\.jsep)?\.mjs$/,
        dependency: 'url',
        type: 'asset/resource'
      }
    ]
  }
};
