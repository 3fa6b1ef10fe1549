/**
 * `globalThis.navigator` replaced for the tests of one describe block (WebGPU present or not),
 * and put back after each test.
 */
export function navigatorStub(): (navigator: object | undefined) => void {
  const before = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const set = (navigator: object | undefined): void => {
    if (navigator === undefined) {
      delete (globalThis as { navigator?: unknown }).navigator;
    } else {
      Object.defineProperty(globalThis, 'navigator', {
        value: navigator,
        configurable: true,
        writable: true
      });
    }
  };
  afterEach(() => {
    if (before) {
      Object.defineProperty(globalThis, 'navigator', before);
    } else {
      set(undefined);
    }
  });
  return set;
}
