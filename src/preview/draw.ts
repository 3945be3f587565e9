/**
 * Minimal drawing on packed RGB24 buffers: rectangles, translucent fills and bitmap text.
 * Everything clips to the image, so boxes that leave the frame never throw.
 */
import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH } from './font';

export type Rgb = readonly [number, number, number];

export interface RgbImage {
  width: number;
  height: number;
  /** width*height*3 bytes, R,G,B. */
  data: Uint8Array;
}

/** Fills a rectangle; `alpha` < 1 blends over the existing pixels. */
export function fillRect(img: RgbImage, x: number, y: number, w: number, h: number, color: Rgb, alpha = 1): void {
  const x0 = Math.max(0, Math.round(x));
  const y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(img.width, Math.round(x + w));
  const y1 = Math.min(img.height, Math.round(y + h));
  if (x1 <= x0 || y1 <= y0) return;
  const d = img.data;
  const [r, g, b] = color;
  if (alpha >= 1) {
    for (let yy = y0; yy < y1; yy++) {
      let i = (yy * img.width + x0) * 3;
      for (let xx = x0; xx < x1; xx++, i += 3) {
        d[i] = r;
        d[i + 1] = g;
        d[i + 2] = b;
      }
    }
    return;
  }
  const a = Math.max(0, alpha);
  const k = 1 - a;
  for (let yy = y0; yy < y1; yy++) {
    let i = (yy * img.width + x0) * 3;
    for (let xx = x0; xx < x1; xx++, i += 3) {
      d[i] = d[i] * k + r * a;
      d[i + 1] = d[i + 1] * k + g * a;
      d[i + 2] = d[i + 2] * k + b * a;
    }
  }
}

/** Draws a rectangle outline `thickness` pixels wide, inside the given bounds. */
export function strokeRect(img: RgbImage, x: number, y: number, w: number, h: number, color: Rgb, thickness = 2): void {
  const t = Math.max(1, Math.round(thickness));
  fillRect(img, x, y, w, t, color);
  fillRect(img, x, y + h - t, w, t, color);
  fillRect(img, x, y, t, h, color);
  fillRect(img, x + w - t, y, t, h, color);
}

/** Draws `text` with its top-left corner at (x, y), each font pixel `scale` x `scale`. */
export function drawText(img: RgbImage, text: string, x: number, y: number, color: Rgb, scale = 1): void {
  const s = Math.max(1, Math.round(scale));
  let cx = Math.round(x);
  const cy = Math.round(y);
  if (cy >= img.height || cy + GLYPH_HEIGHT * s <= 0) return;
  for (const ch of text) {
    // The rest lies right of the image: a label of a million characters drew (nothing) for seconds.
    if (cx >= img.width) break;
    const rows = glyph(ch);
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      const bits = rows[row];
      if (!bits) continue;
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (bits & (1 << (GLYPH_WIDTH - 1 - col))) fillRect(img, cx + col * s, cy + row * s, s, s, color);
      }
    }
    cx += (GLYPH_WIDTH + 1) * s;
  }
}

/** Nearest-neighbour downscale so the image is at most `maxWidth` wide (no-op when smaller). */
export function fitWidth(img: RgbImage, maxWidth: number): RgbImage {
  if (!maxWidth || img.width <= maxWidth) return img;
  const w = Math.round(maxWidth);
  const h = Math.max(1, Math.round((img.height * w) / img.width));
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(img.height - 1, Math.floor(((y + 0.5) * img.height) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(img.width - 1, Math.floor(((x + 0.5) * img.width) / w));
      const si = (sy * img.width + sx) * 3;
      const di = (y * w + x) * 3;
      out[di] = img.data[si];
      out[di + 1] = img.data[si + 1];
      out[di + 2] = img.data[si + 2];
    }
  }
  return { width: w, height: h, data: out };
}
