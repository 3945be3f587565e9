/**
 * Draws the pipeline's results onto a frame — a box per face in the colour of its label,
 * "#<track id> <label> <confidence>" above it and a probability bar per class beside it —
 * and encodes the result as JPEG. Pure JavaScript (jpeg-js): no canvas, no native modules.
 */
import type { Frame } from '../frame';
import { MAX_IGNORE_ZONES, type Zone } from '../face/zones';
import { decodeImage, encodeJpeg as encodeImageJpeg, imageFromFrame, toRgb } from '../image';
import { drawText, fillRect, fitWidth, Rgb, RgbImage, strokeRect } from './draw';
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
  /**
   * The face stage's zones (`msg.zones`, fractions of the frame): outside the region of interest
   * is dimmed, ignore zones are tinted red.
   */
  zones?: PreviewZones;
}

/** A rectangle in fractions of the frame (the face stage's `Zone`). */
export type PreviewZone = Zone;

export interface PreviewZones {
  roi?: PreviewZone | null;
  ignore?: PreviewZone[];
}

const ZONE_RED: Rgb = [231, 76, 60];

/** Draws the zones (see {@link AnnotateOptions.zones}); values outside the frame are clipped. */
export function drawZones(img: RgbImage, zones: PreviewZones): void {
  const px = (z: PreviewZone) => ({ x: z.x * img.width, y: z.y * img.height, w: z.width * img.width, h: z.height * img.height });
  if (zones.roi) {
    const r = px(zones.roi);
    const dim: Rgb = [0, 0, 0];
    fillRect(img, 0, 0, img.width, r.y, dim, 0.5);
    fillRect(img, 0, r.y + r.h, img.width, img.height - (r.y + r.h), dim, 0.5);
    fillRect(img, 0, r.y, r.x, r.h, dim, 0.5);
    fillRect(img, r.x + r.w, r.y, img.width - (r.x + r.w), r.h, dim, 0.5);
    strokeRect(img, r.x, r.y, r.w, r.h, [255, 255, 255], 1);
  }
  for (const z of zones.ignore ?? []) {
    const r = px(z);
    fillRect(img, r.x, r.y, r.w, r.h, ZONE_RED, 0.3);
    strokeRect(img, r.x, r.y, r.w, r.h, ZONE_RED, 1);
  }
}

const isZone = (z: unknown): z is PreviewZone => {
  const o = z as PreviewZone | null;
  return !!o && typeof o === 'object' && [o.x, o.y, o.width, o.height].every((v) => typeof v === 'number' && Number.isFinite(v)) && o.width > 0 && o.height > 0;
};

/** The drawable part of a `msg.zones` value (anything else in it is ignored; at most the face stage's 16 ignore zones). */
export function slimZones(zones: unknown): PreviewZones | undefined {
  if (!zones || typeof zones !== 'object') return undefined;
  const z = zones as { roi?: unknown; ignore?: unknown };
  const roi = isZone(z.roi) ? { x: z.roi.x, y: z.roi.y, width: z.roi.width, height: z.roi.height } : null;
  const ignore = Array.isArray(z.ignore) ? z.ignore.filter(isZone).slice(0, MAX_IGNORE_ZONES).map((i) => ({ x: i.x, y: i.y, width: i.width, height: i.height })) : [];
  return roi || ignore.length ? { roi, ignore } : undefined;
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
  // A JPEG given without its size (a bare Buffer in msg.payload) is decoded as it is.
  const img = frame.format === 'jpeg' && !(frame.width > 0) ? decodeImage(frame.data) : imageFromFrame(frame as Frame);
  const rgb = toRgb(img);
  // Raw frames are wrapped without copying: drawing must never modify the frame other nodes hold.
  const data = rgb.data.buffer === frame.data.buffer ? Uint8Array.from(rgb.data) : rgb.data;
  return { width: rgb.width, height: rgb.height, data };
}

/**
 * Faces drawn on one frame at most (the face detector finds at most 100): a message listing more
 * (10 000 faces took 5 s a frame) draws its first ones and says how many it left out.
 */
export const MAX_DRAWN_FACES = 100;

/**
 * Draws faces (boxes, ids, labels, bars) and an optional caption onto `img` in place. Every
 * face's bar panel is drawn first and the boxes and labels over them, so a panel never hides
 * another face's box or label; labels are kept inside the image. At most
 * {@link MAX_DRAWN_FACES} faces are drawn; a line at the bottom left counts the others.
 */
export function drawFaces(img: RgbImage, faces: PreviewFace[], options: AnnotateOptions = {}, scaleX = 1, scaleY = 1): void {
  const s = img.width >= 960 ? 3 : img.width >= 480 ? 2 : 1;
  const small = Math.max(1, s - 1);
  const drawn: Array<{ x: number; y: number; w: number; h: number; shown: PreviewFace['emotion']; color: Rgb; id?: number }> = [];
  let notDrawn = 0;
  for (const f of faces) {
    if (!f || !f.box) continue;
    const x = f.box.x * scaleX;
    const y = f.box.y * scaleY;
    const w = f.box.width * scaleX;
    const h = f.box.height * scaleY;
    if (![x, y, w, h].every(Number.isFinite)) continue;
    if (drawn.length >= MAX_DRAWN_FACES) {
      notDrawn++;
      continue;
    }
    const shown = f.smoothed ?? f.emotion;
    const color = (shown && LABEL_COLORS[shown.label]) || DEFAULT_COLOR;
    drawn.push({ x, y, w, h, shown, color, id: f.id });
  }
  if (options.bars !== false) {
    for (const { x, y, w, shown } of drawn) {
      const probs = shown?.probabilities;
      if (probs && Object.keys(probs).length) drawBars(img, probs, x, y, w, small);
    }
  }
  for (const { x, y, w, h, shown, color, id } of drawn) {
    strokeRect(img, x, y, w, h, color, s + 1);
    const parts: string[] = [];
    if (typeof id === 'number') parts.push(`#${id}`);
    if (shown) parts.push(`${shown.label} ${Math.round(shown.confidence * 100)}%`);
    if (!parts.length) continue;
    const text = parts.join(' ');
    const tw = textWidth(text, s) + 2 * s;
    const th = (GLYPH_HEIGHT + 2) * s;
    // Above the box if there is room, else below it; always inside the image (a label wider
    // than the image starts at its left edge).
    const tx = Math.max(0, Math.min(img.width - tw, x));
    const ty = Math.max(0, Math.min(img.height - th, y - th >= 0 ? y - th : y + h));
    fillRect(img, tx, ty, tw, th, color);
    drawText(img, text, tx + s, ty + s, BLACK, s);
  }
  if (options.caption) {
    const th = (GLYPH_HEIGHT + 2) * s;
    fillRect(img, 0, 0, textWidth(options.caption, s) + 2 * s, th, BLACK, 0.6);
    drawText(img, options.caption, s, s, WHITE, s);
  }
  if (notDrawn > 0) {
    const note = `+${notDrawn} ${notDrawn === 1 ? 'FACE' : 'FACES'} NOT DRAWN (${MAX_DRAWN_FACES} MAX)`;
    const th = (GLYPH_HEIGHT + 2) * s;
    fillRect(img, 0, img.height - th, textWidth(note, s) + 2 * s, th, BLACK, 0.6);
    drawText(img, note, s, img.height - th + s, WHITE, s);
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
  for (let i = 0; i < entries.length; i++) {
    const ry = py + s + i * rowH;
    if (ry >= img.height) break; // the rows below the image (of a map of 100 000 classes)
    const [label, p] = entries[i];
    drawText(img, label.slice(0, 3), px + s, ry, WHITE, s);
    const bw = Math.max(0, Math.min(1, Number(p) || 0)) * barMax;
    fillRect(img, px + labelW, ry, bw, GLYPH_HEIGHT * s, LABEL_COLORS[label] ?? DEFAULT_COLOR);
  }
}

/** Encodes packed RGB as JPEG. */
export function encodeRgbJpeg(img: RgbImage, quality = 75): Buffer {
  return encodeImageJpeg({ width: img.width, height: img.height, channels: 3, data: img.data }, { quality });
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
  if (options.zones) drawZones(img, options.zones);
  drawFaces(img, Array.isArray(faces) ? faces : [], options, sx, sy);
  return encodeRgbJpeg(img, options.quality ?? 75);
}
