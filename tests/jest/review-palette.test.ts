/**
 * Track colours: deterministic and cycling, distinguishable for normal vision and the three
 * dichromacies (Machado 2009 simulation, CIELAB ΔE76), and visible on a black image.
 */
import {
  Deficiency,
  deltaE76,
  hexToRgb,
  relativeLuminance,
  rgbToLab,
  Rgb,
  simulateCvd,
  trackColour,
  TRACK_COLOURS
} from '../../src/widget/review/palette';

const KINDS: readonly Deficiency[] = ['protan', 'deutan', 'tritan'];

function seen(kind: Deficiency | 'normal'): Rgb[] {
  const colours = TRACK_COLOURS.map(hexToRgb);
  return kind === 'normal' ? colours : colours.map(c => simulateCvd(c, kind));
}

/** The smallest ΔE76 among the pairs of colours that `pairs` picks by index. */
function minimumDelta(colours: Rgb[], pairs: (i: number, j: number) => boolean): number {
  let least = Infinity;
  for (let i = 0; i < colours.length; i++) {
    for (let j = i + 1; j < colours.length; j++) {
      if (pairs(i, j)) {
        least = Math.min(least, deltaE76(colours[i] as Rgb, colours[j] as Rgb));
      }
    }
  }
  return least;
}

const n = TRACK_COLOURS.length;
const allPairs = (): boolean => true;
/** Pairs that consecutive track ids get: neighbours in the palette, cyclically. */
const neighbours = (i: number, j: number): boolean => j === i + 1 || (i === 0 && j === n - 1);

describe('trackColour', () => {
  it('is deterministic, cycles through the palette, and differs for consecutive ids', () => {
    expect(TRACK_COLOURS).toHaveLength(7);
    expect(new Set(TRACK_COLOURS).size).toBe(7);
    expect(TRACK_COLOURS.every(c => /^#[0-9a-f]{6}$/.test(c))).toBe(true);
    expect(trackColour(0)).toBe(TRACK_COLOURS[0]);
    expect(trackColour(3)).toBe(TRACK_COLOURS[3]);
    expect(trackColour(7)).toBe(TRACK_COLOURS[0]);
    expect(trackColour(15)).toBe(TRACK_COLOURS[1]);
    expect(trackColour(-1)).toBe(TRACK_COLOURS[6]);
    for (let id = -20; id < 200; id++) {
      expect(trackColour(id)).toBe(trackColour(id));
      expect(trackColour(id + 1)).not.toBe(trackColour(id));
      expect(trackColour(id + n)).toBe(trackColour(id));
    }
  });

  it('rejects ids that are not integers', () => {
    expect(() => trackColour(1.5)).toThrow('track ids are integers, got 1.5');
    expect(() => trackColour(NaN)).toThrow('track ids are integers');
  });
});

describe('colour helpers', () => {
  it('parses hex colours', () => {
    expect(hexToRgb('#e69f00')).toEqual([230, 159, 0]);
    expect(hexToRgb('0072B2')).toEqual([0, 114, 178]);
    expect(() => hexToRgb('#fff')).toThrow("expected a colour as '#rrggbb', got '#fff'");
    expect(() => hexToRgb('#gg0000')).toThrow('#rrggbb');
  });

  it('converts to CIELAB (D65) as the reference values give', () => {
    const expectLab = (rgb: Rgb, expected: number[]): void =>
      rgbToLab(rgb).forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 2));
    expectLab([255, 255, 255], [100, 0, 0]);
    expectLab([0, 0, 0], [0, 0, 0]);
    // sRGB red and mid grey as skimage.color.rgb2lab gives them: [53.24, 80.09, 67.20] and
    // [53.59, 0.00, 0.00].
    expectLab([255, 0, 0], [53.24, 80.09, 67.2]);
    expectLab([128, 128, 128], [53.59, 0, 0]);
    expect(deltaE76([255, 255, 255], [0, 0, 0])).toBeCloseTo(100, 4);
    expect(deltaE76([10, 200, 30], [10, 200, 30])).toBe(0);
  });

  it('simulates the dichromacies with the Machado 2009 matrices', () => {
    // Greys stay grey (each matrix's rows sum to 1, within its rounding).
    for (const kind of KINDS) {
      for (const [v, got] of [0, 128, 255].map(v => [v, simulateCvd([v, v, v], kind)] as const)) {
        got.forEach(c => expect(c).toBeCloseTo(v, 0));
      }
    }
    // Red and green draw together for protans and deuterans, not for tritans, who lose
    // blue-yellow instead. Measured ΔE76: 102.4 normal, 37.2 protan, 53.4 deutan, 108.2 tritan.
    const red: Rgb = [213, 94, 0];
    const green: Rgb = [0, 158, 115];
    const seenAs = (kind: Deficiency): number =>
      deltaE76(simulateCvd(red, kind), simulateCvd(green, kind)) / deltaE76(red, green);
    expect(seenAs('protan')).toBeLessThan(0.6);
    expect(seenAs('deutan')).toBeLessThan(0.6);
    expect(seenAs('tritan')).toBeGreaterThan(0.9);
    // Protan, full severity, of pure red by hand: linear [1, 0, 0] -> first column, encoded.
    const encode = (l: number): number =>
      255 * (l <= 0.0031308 ? 12.92 * l : 1.055 * l ** (1 / 2.4) - 0.055);
    simulateCvd([255, 0, 0], 'protan').forEach((c, i) =>
      expect(c).toBeCloseTo(encode(Math.max(0, [0.152286, 0.114503, -0.003882][i] as number)), 9)
    );
  });
});

describe('TRACK_COLOURS', () => {
  // Minimum ΔE76 measured for this palette, over all pairs / over cyclic neighbours:
  //   normal 26.43 / 26.43, protan 20.66 / 24.81, deutan 17.04 / 24.91, tritan 16.05 / 24.80.
  // (About 2.3 is just noticeable.) The bounds sit a little below, so that a palette change
  // which loses distinguishability fails here.
  const bounds: Record<Deficiency | 'normal', [all: number, neighbours: number]> = {
    normal: [25, 25],
    protan: [20, 24],
    deutan: [16.5, 24],
    tritan: [15.5, 24]
  };

  it.each(Object.entries(bounds))('stay distinguishable for %s vision', (kind, [all, next]) => {
    const colours = seen(kind as Deficiency | 'normal');
    expect(minimumDelta(colours, allPairs)).toBeGreaterThan(all);
    expect(minimumDelta(colours, neighbours)).toBeGreaterThan(next);
  });

  it('stand out against the black background', () => {
    // Measured: the darkest is the blue #0072b2, relative luminance 0.1525, contrast 4.05:1;
    // the others 0.22 to 0.74.
    for (const hex of TRACK_COLOURS) {
      const luminance = relativeLuminance(hexToRgb(hex));
      expect(luminance).toBeGreaterThanOrEqual(0.15);
      expect((luminance + 0.05) / 0.05).toBeGreaterThanOrEqual(4);
    }
  });
});
