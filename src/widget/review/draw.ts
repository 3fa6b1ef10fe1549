/**
 * What the review canvas shows, drawn with a 2-D context: the frame through its contrast
 * limits and colour map, then each track's tail over the last frames and its point, the
 * selected track ringed. Kept apart from the element so that the benchmark times exactly it.
 */

import { ColormapName, Frame, colormapLut, renderFrame } from './image';
import { trackColour } from './palette';
import { TrackIndex } from './track-index';

/** Screen pixels per image pixel, and where the image's origin lies on the screen. */
export interface IViewTransform {
  zoom: number;
  panX: number;
  panY: number;
}

export interface ILayerState {
  name: string;
  visible: boolean;
  opacity: number;
  colormap?: ColormapName;
}

export const BUILTIN_LAYERS: readonly ILayerState[] = [
  { name: 'image', visible: true, opacity: 1, colormap: 'gray' },
  { name: 'tracks', visible: true, opacity: 0.8 },
  { name: 'points', visible: true, opacity: 1 }
];

/** A layer a plugin adds: drawn after the built-in ones, in image coordinates. */
export interface IReviewLayer {
  readonly name: string;
  draw(ctx: CanvasRenderingContext2D, t: number, index: TrackIndex): void;
}

/**
 * The frame as an RGBA bitmap, remade only when the frame, limits or colour map change:
 * colour-mapping a megapixel costs more than everything else in a redraw.
 */
export class FrameBitmap {
  readonly canvas: HTMLCanvasElement | OffscreenCanvas;

  constructor(canvas: HTMLCanvasElement | OffscreenCanvas) {
    this.canvas = canvas;
  }

  update(frame: Frame, limits: [number, number], colormap: ColormapName): void {
    const key = `${limits[0]}:${limits[1]}:${colormap}`;
    if (frame === this._frame && key === this._key) {
      return;
    }
    const [height, width] = frame.shape as [number, number];
    if (!this._image || this._image.width !== width || this._image.height !== height) {
      this._image = new ImageData(width, height);
      this.canvas.width = width;
      this.canvas.height = height;
    }
    renderFrame(frame, limits, colormapLut(colormap), this._image.data);
    const ctx = this.canvas.getContext('2d') as
      CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
    ctx?.putImageData(this._image, 0, 0);
    this._frame = frame;
    this._key = key;
  }

  private _image: ImageData | undefined;
  private _frame: Frame | undefined;
  private _key = '';
}

export interface IScene {
  t: number;
  index: TrackIndex;
  layers: readonly ILayerState[];
  extraLayers: readonly IReviewLayer[];
  transform: IViewTransform;
  tailLength: number;
  selected: number;
  hovered: number;
  /** Screen pixels: points stay this size whatever the zoom. */
  pointRadius: number;
}

function layer(scene: IScene, name: string): ILayerState | undefined {
  const found = scene.layers.find(l => l.name === name);
  return found && found.visible && found.opacity > 0 ? found : undefined;
}

/** Draws the scene onto `ctx`, the frame bitmap first when there is one. */
export function drawScene(
  ctx: CanvasRenderingContext2D,
  scene: IScene,
  bitmap: FrameBitmap | undefined
): void {
  const { zoom, panX, panY } = scene.transform;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.setTransform(zoom, 0, 0, zoom, panX, panY);
  const image = layer(scene, 'image');
  if (image && bitmap) {
    ctx.imageSmoothingEnabled = zoom < 1;
    ctx.globalAlpha = image.opacity;
    ctx.drawImage(bitmap.canvas, 0, 0);
  }
  const points = scene.index.pointsAt(scene.t);
  const tracks = layer(scene, 'tracks');
  if (tracks && scene.tailLength > 0) {
    ctx.globalAlpha = tracks.opacity;
    ctx.lineWidth = 1.5 / zoom;
    for (const id of points.trackId) {
      const tail = scene.index.tail(id, scene.t, scene.tailLength);
      if (tail.length < 4) {
        continue;
      }
      ctx.strokeStyle = trackColour(id);
      ctx.beginPath();
      ctx.moveTo(tail[0] as number, tail[1] as number);
      for (let k = 2; k < tail.length; k += 2) {
        ctx.lineTo(tail[k] as number, tail[k + 1] as number);
      }
      ctx.stroke();
    }
  }
  const dots = layer(scene, 'points');
  if (dots) {
    ctx.globalAlpha = dots.opacity;
    const r = scene.pointRadius / zoom;
    for (let i = 0; i < points.trackId.length; i++) {
      const id = points.trackId[i] as number;
      const x = points.x[i] as number;
      const y = points.y[i] as number;
      ctx.fillStyle = trackColour(id);
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
      if (id === scene.selected || id === scene.hovered) {
        ctx.strokeStyle = '#fff';
        ctx.lineWidth = (id === scene.selected ? 2.5 : 1.5) / zoom;
        ctx.beginPath();
        ctx.arc(x, y, r * 2, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
  }
  for (const extra of scene.extraLayers) {
    const state = layer(scene, extra.name);
    if (state) {
      ctx.globalAlpha = state.opacity;
      extra.draw(ctx, scene.t, scene.index);
    }
  }
  ctx.globalAlpha = 1;
  if (scene.hovered) {
    label(ctx, scene, scene.hovered);
  }
}

/** The hovered track's id beside its point, in screen pixels so that it reads at any zoom. */
function label(ctx: CanvasRenderingContext2D, scene: IScene, trackId: number): void {
  const at = scene.index.position(trackId, scene.t);
  if (!at) {
    return;
  }
  const { zoom, panX, panY } = scene.transform;
  const x = at[1] * zoom + panX + scene.pointRadius * 2 + 2;
  const y = at[0] * zoom + panY - scene.pointRadius * 2;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.font = '12px sans-serif';
  const text = `track ${trackId}`;
  const width = ctx.measureText(text).width;
  ctx.fillStyle = 'rgba(0, 0, 0, 0.7)';
  ctx.fillRect(x - 2, y - 12, width + 4, 16);
  ctx.fillStyle = '#fff';
  ctx.fillText(text, x, y);
}

/** A transform that shows the whole `width x height` image centred in the canvas. */
export function fitTransform(
  width: number,
  height: number,
  canvasWidth: number,
  canvasHeight: number
): IViewTransform {
  const zoom = Math.min(canvasWidth / width, canvasHeight / height);
  return { zoom, panX: (canvasWidth - width * zoom) / 2, panY: (canvasHeight - height * zoom) / 2 };
}

/** The transform after zooming by `factor` about the screen point (sx, sy), which stays put. */
export function zoomAbout(
  view: IViewTransform,
  factor: number,
  sx: number,
  sy: number
): IViewTransform {
  const zoom = Math.min(64, Math.max(0.05, view.zoom * factor));
  const k = zoom / view.zoom;
  return { zoom, panX: sx - (sx - view.panX) * k, panY: sy - (sy - view.panY) * k };
}

/** Image coordinates (y, x) of a screen point. */
export function toImage(view: IViewTransform, sx: number, sy: number): [number, number] {
  return [(sy - view.panY) / view.zoom, (sx - view.panX) / view.zoom];
}
