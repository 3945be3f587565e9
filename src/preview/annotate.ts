/**
 * Draws the pipeline's results onto a frame — a box per face in the colour of its label,
 * "#<track id> <label> <confidence>" above it and a probability bar per class beside it —
 * and encodes the result as JPEG. Pure JavaScript (jpeg-js): no canvas, no native modules.
 */
import * as jpeg from 'jpeg-js';
import type { Frame } from '../frame';
import { drawText, fillRect, fitWidth, Rgb, RgbImage, strokeRect, toRgb } from './draw';
import { GLYPH_HEIGHT, textWidth } from './font';

/** The fields of a face the preview draws (a subset of the face/classifier/smoothing contract). */
export interface PreviewFace {
  id?: number;
  box?: { x: number; y: number; width: number; height: number };
  score?: number;
  emotion?: { label: string; confidence: number; probabilities?: Record<string, number> };
  smoothed?: { label: string; confidence: number; probabilities?: Record<string, number> };
}

export interface AnnotateOptions {
  /** JPEG quality 1..100. @default 75 */
  quality?: number;
  /** Downscale so the output is at most this wide (0 = keep). @default 0 */
  maxWidth?: number;
  /** Draw per-class probability bars. @default true */
  bars?: boolean;
  /** One line of text for the top-left corner (e.g. "12.0 fps  2 faces"). */
  caption?: string;
}

export const LABEL_COLORS: Record<string, Rgb> = {
  anger: [231, 76, 60],
  contempt: [26, 188, 156],
  disgust: [154, 160, 40],
  fear: [155, 89, 182],
  happy: [46, 204, 113],
  neutral: [189, 195, 199],
  sadness: [52, 152, 219],
  surprise: [243, 156, 18],
};
const DEFAULT_COLOR: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const WHITE: Rgb = [255, 255, 255];

/** Decodes a Frame (rgb24, gray or JPEG) to packed RGB. Throws with a clear message on bad data. */
export function frameToRgb(frame: Pick<Frame, 'width' | 'height' | 'format' | 'data'>): RgbImage {
  if (frame.format === 'jpeg') {
    const d = jpeg.decode(frame.data, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 256 });
    return { width: d.width, height: d.height, data: d.data };
  }
  const ch = frame.format === 'gray' ? 1 : 3;
  if (frame.data.length !== frame.width * frame.height * ch) {
    throw new Error(`frame data has ${frame.data.length} bytes, expected ${frame.width * frame.height * ch} for ${frame.width}x${frame.height} ${frame.format}`);
  }
  // Copy: drawing must never modify the frame other nodes still hold.
  return toRgb(frame.width, frame.height, ch === 3 ? Uint8Array.from(frame.data) : frame.data, ch as 1 | 3);
}

/** Draws faces (boxes, ids, labels, bars) and an optional caption onto `img` in place. */
export function drawFaces(img: RgbImage, faces: PreviewFace[], options: AnnotateOptions = {}, scaleX = 1, scaleY = 1): void {
  const s = img.width >= 960 ? 3 : img.width >= 480 ? 2 : 1;
  const small = Math.max(1, s - 1);
  for (const f of faces) {
    if (!f || !f.box) continue;
    const x = f.box.x * scaleX;
    const y = f.box.y * scaleY;
    const w = f.box.width * scaleX;
    const h = f.box.height * scaleY;
    if (![x, y, w, h].every(Number.isFinite)) continue;
    const shown = f.smoothed ?? f.emotion;
    const color = (shown && LABEL_COLORS[shown.label]) || DEFAULT_COLOR;
    strokeRect(img, x, y, w, h, color, s + 1);
    const parts: string[] = [];
    if (typeof f.id === 'number') parts.push(`#${f.id}`);
    if (shown) parts.push(`${shown.label} ${Math.round(shown.confidence * 100)}%`);
    if (parts.length) {
      const text = parts.join(' ');
      const th = (GLYPH_HEIGHT + 2) * s;
      const ty = y - th >= 0 ? y - th : y + h;
      fillRect(img, x, ty, textWidth(text, s) + 2 * s, th, color);
      drawText(img, text, x + s, ty + s, BLACK, s);
    }
    const probs = shown?.probabilities;
    if (options.bars !== false && probs && Object.keys(probs).length) {
      drawBars(img, probs, x, y, w, small);
    }
  }
  if (options.caption) {
    const th = (GLYPH_HEIGHT + 2) * s;
    fillRect(img, 0, 0, textWidth(options.caption, s) + 2 * s, th, BLACK, 0.6);
    drawText(img, options.caption, s, s, WHITE, s);
  }
}

function drawBars(img: RgbImage, probs: Record<string, number>, x: number, y: number, w: number, s: number): void {
  const entries = Object.entries(probs);
  const rowH = (GLYPH_HEIGHT + 2) * s;
  const labelW = textWidth('SUR', s) + 2 * s;
  const barMax = 40 * s;
  const panelW = labelW + barMax + 2 * s;
  const panelH = entries.length * rowH + s;
  // Right of the box if it fits, else left of it.
  let px = x + w + 2 * s;
  if (px + panelW > img.width) px = x - panelW - 2 * s;
  if (px < 0) px = Math.max(0, Math.min(img.width - panelW, x));
  const py = Math.max(0, Math.min(img.height - panelH, y));
  fillRect(img, px, py, panelW, panelH, BLACK, 0.55);
  entries.forEach(([label, p], i) => {
    const ry = py + s + i * rowH;
    drawText(img, label.slice(0, 3), px + s, ry, WHITE, s);
    const bw = Math.max(0, Math.min(1, Number(p) || 0)) * barMax;
    fillRect(img, px + labelW, ry, bw, GLYPH_HEIGHT * s, LABEL_COLORS[label] ?? DEFAULT_COLOR);
  });
}

/** RGB → RGBA (jpeg-js's encoder wants 4 bytes per pixel). */
function toRgba(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0, j = 0, k = 0; i < n; i++, j += 3, k += 4) {
    out[k] = img.data[j];
    out[k + 1] = img.data[j + 1];
    out[k + 2] = img.data[j + 2];
    out[k + 3] = 255;
  }
  return out;
}

/** Encodes packed RGB as JPEG. */
export function encodeJpeg(img: RgbImage, quality = 75): Buffer {
  const q = Math.max(1, Math.min(100, Math.round(quality)));
  return Buffer.from(jpeg.encode({ width: img.width, height: img.height, data: toRgba(img) }, q).data);
}

/**
 * Annotates one frame and returns a JPEG Buffer.
 *
 * @example
 * ```ts
 * const jpeg = annotateFrame(msg.frame, msg.payload, { quality: 70, maxWidth: 640 });
 * ```
 */
export function annotateFrame(frame: Pick<Frame, 'width' | 'height' | 'format' | 'data'>, faces: PreviewFace[], options: AnnotateOptions = {}): Buffer {
  const full = frameToRgb(frame);
  const img = fitWidth(full, options.maxWidth ?? 0);
  // Face boxes are in the frame's pixel coordinates; a JPEG may decode to another size only if
  // the frame's width/height were wrong, so scale by the decoded size.
  const sx = img.width / (frame.format === 'jpeg' ? full.width : frame.width);
  const sy = img.height / (frame.format === 'jpeg' ? full.height : frame.height);
  drawFaces(img, Array.isArray(faces) ? faces : [], options, sx, sy);
  return encodeJpeg(img, options.quality ?? 75);
}
