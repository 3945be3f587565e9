/**
 * Detector input preparation in typed-array code: RGB/gray/RGBA pixels → aspect-preserving
 * resize (box pre-filter + bilinear) → float32 in [-1, 1], padded on the right and bottom to a
 * multiple of the network's total stride. No per-pixel objects and no full-size tensors: only
 * the small network input is uploaded to the backend.
 */
import type { RawImage } from '../image';

export interface LetterboxGeometry {
  /** Network input width and height (multiples of `stride`). */
  inputWidth: number;
  inputHeight: number;
  /** Size of the image content inside the input (the rest is padding). */
  contentWidth: number;
  contentHeight: number;
  /** Input pixels per source pixel. */
  scale: number;
}

/** Computes where a `width` x `height` image lands in a network input whose long side is `size`. */
export function letterboxGeometry(width: number, height: number, size: number, stride: number): LetterboxGeometry {
  const scale = size / Math.max(width, height);
  const contentWidth = Math.max(1, Math.round(width * scale));
  const contentHeight = Math.max(1, Math.round(height * scale));
  return {
    inputWidth: Math.max(stride, Math.ceil(contentWidth / stride) * stride),
    inputHeight: Math.max(stride, Math.ceil(contentHeight / stride) * stride),
    contentWidth,
    contentHeight,
    scale,
  };
}

/**
 * Box-averages by integer factors `fx`, `fy` (fast, anti-aliased), returning 3-channel floats
 * 0..255. Gray is replicated, alpha dropped. Sums are integers until the final scaling.
 */
function boxDownsample(img: RawImage, fx: number, fy: number): { w: number; h: number; data: Float32Array } {
  const c = img.channels;
  const w = Math.floor(img.width / fx);
  const h = Math.floor(img.height / fy);
  const out = new Float32Array(w * h * 3);
  const src = img.data;
  const rowStride = img.width * c;
  const inv = 1 / (fx * fy);
  const acc = new Uint32Array(w * 3);
  for (let y = 0; y < h; y++) {
    acc.fill(0);
    for (let dy = 0; dy < fy; dy++) {
      const rowStart = (y * fy + dy) * rowStride;
      if (c === 1) {
        for (let x = 0, si = rowStart, o = 0; x < w; x++, o += 3) {
          let g = 0;
          for (let dx = 0; dx < fx; dx++) g += src[si++];
          acc[o] += g;
        }
      } else {
        for (let x = 0, si = rowStart, o = 0; x < w; x++, o += 3) {
          let r = 0;
          let g = 0;
          let b = 0;
          for (let dx = 0; dx < fx; dx++, si += c) {
            r += src[si];
            g += src[si + 1];
            b += src[si + 2];
          }
          acc[o] += r;
          acc[o + 1] += g;
          acc[o + 2] += b;
        }
      }
    }
    const base = y * w * 3;
    if (c === 1) {
      for (let i = 0; i < w * 3; i += 3) out[base + i] = out[base + i + 1] = out[base + i + 2] = acc[i] * inv;
    } else {
      for (let i = 0; i < w * 3; i++) out[base + i] = acc[i] * inv;
    }
  }
  return { w, h, data: out };
}

/**
 * Fills a network input (NHWC, batch 1, 3 channels, values in [-1, 1]); padding is black (-1),
 * as MediaPipe's letterbox. Returns the buffer and the geometry to map outputs back.
 */
export function prepareInput(img: RawImage, size: number, stride: number): { data: Float32Array; geo: LetterboxGeometry } {
  const geo = letterboxGeometry(img.width, img.height, size, stride);
  const { inputWidth: IW, inputHeight: IH, contentWidth: cw, contentHeight: ch } = geo;
  // Shrink by the largest integer factor that keeps the image at least as big as the target,
  // then finish with bilinear: anti-aliased and cheap (~1 ms for 640x480 → 256x192).
  const fx = Math.max(1, Math.floor(img.width / cw));
  const fy = Math.max(1, Math.floor(img.height / ch));
  let sw: number;
  let sh: number;
  let sdata: ArrayLike<number>;
  let sc: number;
  if (fx > 1 || fy > 1) {
    const d = boxDownsample(img, fx, fy);
    sw = d.w;
    sh = d.h;
    sdata = d.data;
    sc = 3;
  } else {
    sw = img.width;
    sh = img.height;
    sdata = img.data;
    sc = img.channels;
  }
  const out = new Float32Array(IW * IH * 3).fill(-1);
  const k = 2 / 255;
  const rx = sw / cw;
  const ry = sh / ch;
  // Precomputed column taps (bilinear, half-pixel centres).
  const x0s = new Int32Array(cw);
  const x1s = new Int32Array(cw);
  const axs = new Float32Array(cw);
  for (let x = 0; x < cw; x++) {
    const u = Math.min(Math.max((x + 0.5) * rx - 0.5, 0), sw - 1);
    const f = Math.floor(u);
    x0s[x] = f * sc;
    x1s[x] = Math.min(f + 1, sw - 1) * sc;
    axs[x] = u - f;
  }
  const g1 = sc >= 3 ? 1 : 0;
  const g2 = sc >= 3 ? 2 : 0;
  for (let y = 0; y < ch; y++) {
    const v = Math.min(Math.max((y + 0.5) * ry - 0.5, 0), sh - 1);
    const fv = Math.floor(v);
    const ay = v - fv;
    const r0 = fv * sw * sc;
    const r1 = Math.min(fv + 1, sh - 1) * sw * sc;
    let o = y * IW * 3;
    for (let x = 0; x < cw; x++, o += 3) {
      const ax = axs[x];
      const a = x0s[x];
      const b = x1s[x];
      const w00 = (1 - ax) * (1 - ay);
      const w01 = ax * (1 - ay);
      const w10 = (1 - ax) * ay;
      const w11 = ax * ay;
      out[o] = (sdata[r0 + a] * w00 + sdata[r0 + b] * w01 + sdata[r1 + a] * w10 + sdata[r1 + b] * w11) * k - 1;
      out[o + 1] = (sdata[r0 + a + g1] * w00 + sdata[r0 + b + g1] * w01 + sdata[r1 + a + g1] * w10 + sdata[r1 + b + g1] * w11) * k - 1;
      out[o + 2] = (sdata[r0 + a + g2] * w00 + sdata[r0 + b + g2] * w01 + sdata[r1 + a + g2] * w10 + sdata[r1 + b + g2] * w11) * k - 1;
    }
  }
  return { data: out, geo };
}
