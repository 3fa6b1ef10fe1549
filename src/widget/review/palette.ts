/**
 * Track colours, and the colour science that checks them: simulated colour-vision deficiency
 * and CIELAB colour differences.
 */

export type Rgb = [r: number, g: number, b: number];
export type Lab = [l: number, a: number, b: number];
type Vec3 = [number, number, number];
export type Deficiency = 'protan' | 'deutan' | 'tritan';

/**
 * Okabe & Ito's colour-universal-design palette (Okabe M., Ito K., "Color Universal Design",
 * 2008), without its black, which vanishes on a dark microscopy image. Reordered so that
 * neighbours, which consecutive track ids (often sister cells) get, stay far apart under every
 * deficiency. Every colour has a relative luminance of at least 0.15 (the blue #0072b2), a
 * contrast of 4:1 or more against black.
 */
export const TRACK_COLOURS: readonly string[] = [
  '#e69f00', // orange
  '#0072b2', // blue
  '#56b4e9', // sky blue
  '#d55e00', // vermillion
  '#cc79a7', // reddish purple
  '#f0e442', // yellow
  '#009e73' // bluish green
];

/** The colour of a track: the same for the same id, different for consecutive ids. */
export function trackColour(trackId: number): string {
  if (!Number.isInteger(trackId)) {
    throw new Error(`track ids are integers, got ${trackId}`);
  }
  const n = TRACK_COLOURS.length;
  return TRACK_COLOURS[((trackId % n) + n) % n] as string;
}

/** '#rrggbb' (or 'rrggbb') to [r, g, b] in 0..255. */
export function hexToRgb(hex: string): Rgb {
  const match = /^#?([0-9a-f]{6})$/i.exec(hex);
  if (!match) {
    throw new Error(`expected a colour as '#rrggbb', got '${hex}'`);
  }
  const n = parseInt(match[1] as string, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** sRGB 0..255 to linear light 0..1 (IEC 61966-2-1). */
function linearise(channel: number): number {
  const c = channel / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

function encode(linear: number): number {
  const c = Math.min(1, Math.max(0, linear));
  return 255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);
}

type Matrix = readonly [Vec3, Vec3, Vec3];

function apply(m: Matrix, v: Vec3): Vec3 {
  return m.map(row => row[0] * v[0] + row[1] * v[1] + row[2] * v[2]) as Vec3;
}

/**
 * Machado, Oliveira & Fernandes 2009 ("A physiologically-based model for simulation of color
 * vision deficiency"), severity 1.0: dichromacy, on linear sRGB.
 */
const MACHADO: Record<Deficiency, Matrix> = {
  protan: [
    [0.152286, 1.052583, -0.204868],
    [0.114503, 0.786281, 0.099216],
    [-0.003882, -0.048116, 1.051998]
  ],
  deutan: [
    [0.367322, 0.860646, -0.227968],
    [0.280085, 0.672501, 0.047413],
    [-0.01182, 0.04294, 0.968881]
  ],
  tritan: [
    [1.255528, -0.076749, -0.178779],
    [-0.078411, 0.930809, 0.147602],
    [0.004733, 0.691367, 0.3039]
  ]
};

/** How `rgb` (sRGB 0..255) looks with the deficiency: sRGB 0..255, clipped to the gamut. */
export function simulateCvd(rgb: Rgb, kind: Deficiency): Rgb {
  return apply(MACHADO[kind], rgb.map(linearise) as Vec3).map(encode) as Rgb;
}

/** Relative luminance (WCAG) of an sRGB 0..255 colour: 0 black, 1 white. */
export function relativeLuminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map(linearise) as Vec3;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Linear sRGB to CIE XYZ, D65 white (IEC 61966-2-1). */
const SRGB_TO_XYZ: Matrix = [
  [0.4124564, 0.3575761, 0.1804375],
  [0.2126729, 0.7151522, 0.072175],
  [0.0193339, 0.119192, 0.9503041]
];
const D65: Vec3 = [0.95047, 1, 1.08883];

/** sRGB 0..255 to CIELAB (D65). */
export function rgbToLab(rgb: Rgb): Lab {
  const xyz = apply(SRGB_TO_XYZ, rgb.map(linearise) as Vec3);
  const [fx, fy, fz] = xyz.map((v, i) => labF(v / (D65[i] as number))) as Vec3;
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

function labF(t: number): number {
  const delta = 6 / 29;
  return t > delta ** 3 ? Math.cbrt(t) : t / (3 * delta * delta) + 4 / 29;
}

/** CIE 1976 colour difference of two sRGB 0..255 colours: about 2.3 is just noticeable. */
export function deltaE76(a: Rgb, b: Rgb): number {
  const [l1, a1, b1] = rgbToLab(a);
  const [l2, a2, b2] = rgbToLab(b);
  return Math.hypot(l1 - l2, a1 - a2, b1 - b2);
}
