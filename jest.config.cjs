/** Jest runs the TypeScript sources directly through ts-jest. */
// These ship only ES modules; they are compiled to CommonJS like the sources.
const esmPackages = [
  'lit',
  'lit-html',
  'lit-element',
  '@lit',
  '@lit-labs',
  '@jupyter-widgets',
  '@jupyterlab'
];

// The sources and tests are type-checked as ES modules (tsconfig.test.json); Jest runs them as
// CommonJS. src/engine/assets.ts (import.meta, for the bundler) is never loaded here.
const compilerOptions = {
  ...require('./tsconfig.json').compilerOptions,
  ...require('./tsconfig.test.json').compilerOptions,
  module: 'commonjs',
  moduleResolution: 'node'
};

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/tests/jest'],
  transform: {
    '^.+\\.[tj]sx?$': ['ts-jest', { tsconfig: compilerOptions }]
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  setupFiles: ['<rootDir>/tests/jest/setup.ts'],
  moduleFileExtensions: ['ts', 'js', 'json']
};
