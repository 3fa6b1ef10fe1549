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

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/tests/jest'],
  transform: {
    '^.+\\.[tj]sx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  setupFiles: ['<rootDir>/tests/jest/setup.ts'],
  moduleFileExtensions: ['ts', 'js', 'json']
};
