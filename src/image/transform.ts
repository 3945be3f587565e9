/**
 * Pixel operations on {@link RawImage}s in plain typed-array code: colour conversion, bilinear
 * resize, affine warp (rotate/scale/crop in one pass) and rectangular crop.
 *
 * Coordinates are continuous: pixel (i, j) covers [i, i+1) x [j, j+1) and its centre is at
 * (i + 0.5, j + 0.5). Detector boxes and keypoints use the same convention.
 */
import { assertRawImage, Channels, GrayImage, ImageError, RawImage } from './types';

/** ITU-R BT.601 luma weights in 1/256 units (77 + 150 + 29 = 256), as most JPEG pipelines. */
const R_W = 77;
const G_W = 150;
const B_W = 29;

/**
 * Converts to one 8-bit channel (BT.601 luma; alpha is ignored). Gray input is returned as is.
 *
 * @example
 * ```ts
 * const g = toGray(decodeImage(buf)); // { width, height, channels: 1, data }
 * ```
 */
export function toGray(img: RawImage): RawImage & { channels: 1 } {
  assertRawImage(img);
  if (img.channels === 1) return img as RawImage & { channels: 1 };
  const n = img.width * img.height;
  const c = img.channels;
  const src = img.data;
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += c) out[i] = (src[j] * R_W + src[j + 1] * G_W + src[j + 2] * B_W + 128) >> 8;
  return { width: img.width, height: img.height, channels: 1, data: out };
}

/** Converts to 3-channel RGB (gray is replicated, alpha dropped). RGB input is returned as is. */
export function toRgb(img: RawImage): RawImage & { channels: 3 } {
  assertRawImage(img);
  if (img.channels === 3) return img as RawImage & { channels: 3 };
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const src = img.data;
  if (img.channels === 1) {
    for (let i = 0, k = 0; i < n; i++, k += 3) out[k] = out[k + 1] = out[k + 2] = src[i];
  } else {
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += 3) {
      out[k] = src[j];
      out[k + 1] = src[j + 1];
      out[k + 2] = src[j + 2];
    }
  }
  return { width: img.width, height: img.height, channels: 3, data: out };
}

/** Views a {@link GrayImage} as a 1-channel {@link RawImage}. */
export function grayAsRaw(img: GrayImage): RawImage {
  return { width: img.width, height: img.height, channels: 1, data: img.data };
}

/**
 * Resizes with bilinear interpolation (half-pixel centres, like OpenCV's INTER_LINEAR and
 * tf.image.resizeBilinear with halfPixelCenters). When shrinking by more than 2x, each output
 * pixel averages a grid of bilinear samples so the result does not alias.
 *
 * @example
 * ```ts
 * const small = resizeBilinear(img, 320, 240);
 * ```
 */
export function resizeBilinear(img: RawImage, width: number, height: number): RawImage {
  assertRawImage(img);
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageError('BAD_ARGUMENT', `resize target must be positive integers, got ${width}x${height}`);
  }
  const sx = img.width / width;
  const sy = img.height / height;
  return warpAffine(img, [sx, 0, 0, 0, sy, 0], width, height);
}

/**
 * A 2x3 affine map from OUTPUT coordinates to SOURCE coordinates:
 * `u = m[0]*x + m[1]*y + m[2]`, `v = m[3]*x + m[4]*y + m[5]` (continuous pixel coordinates).
 */
export type Affine = [number, number, number, number, number, number];

export interface WarpOptions {
  /**
   * What to sample outside the source: `replicate` repeats the edge pixels (no black wedges
   * in face crops near the frame border), `constant` uses {@link WarpOptions.fill}.
   * @default 'replicate'
   */
  border?: 'replicate' | 'constant';
  /** Fill value for `constant` borders. @default 0 */
  fill?: number;
}

/** Inverts an {@link Affine} (throws for a singular map). */
export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new ImageError('BAD_ARGUMENT', 'affine map is singular');
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** Applies an {@link Affine} to a point. */
export function applyAffine(m: Affine, x: number, y: number): { x: number; y: number } {
  return { x: m[0] * x + m[1] * y + m[2], y: m[3] * x + m[4] * y + m[5] };
}

/**
 * Warps `img` into a `width` x `height` output through an output→source affine map, with
 * bilinear sampling; when the map shrinks by more than 1.5x, each output pixel averages an
 * n x n grid of samples (n = ceil(scale)) to avoid aliasing.
 *
 * <span class="informal">Rotate, scale and crop in one pass — the face alignment primitive.</span>
 *
 * @example
 * ```ts
 * // 2x enlargement of the top-left quarter
 * const out = warpAffine(img, [0.5, 0, 0, 0, 0.5, 0], img.width, img.height);
 * ```
 * @param img Source image (any channel count; the output has the same).
 * @param m Output→source map in continuous pixel coordinates.
 * @param width Output width.
 * @param height Output height.
 * @return The warped image.
 */
export function warpAffine(img: RawImage, m: Affine, width: number, height: number, options: WarpOptions = {}): RawImage {
  assertRawImage(img);
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageError('BAD_ARGUMENT', `warp target must be positive integers, got ${width}x${height}`);
  }
  if (!m.every(Number.isFinite)) throw new ImageError('BAD_ARGUMENT', 'affine map has non-finite entries');
  const c = img.channels;
  const W = img.width;
  const H = img.height;
  const src = img.data;
  const out = new Uint8Array(width * height * c);
  const constant = options.border === 'constant';
  const fill = options.fill ?? 0;
  // Source pixels per output pixel along each output axis.
  const scaleX = Math.hypot(m[0], m[3]);
  const scaleY = Math.hypot(m[1], m[4]);
  const nx = scaleX > 1.5 ? Math.ceil(scaleX) : 1;
  const ny = scaleY > 1.5 ? Math.ceil(scaleY) : 1;
  if (!constant) {
    if (nx === 1 && ny === 1) return warpBilinear(img, m, width, height);
    // Supersample: one bilinear sample per sub-pixel on an nx-by-ny finer grid, then box-reduce.
    const fine = warpBilinear(img, [m[0] / nx, m[1] / ny, m[2], m[3] / nx, m[4] / ny, m[5]], width * nx, height * ny);
    return boxReduce(fine, nx, ny);
  }
  const inv = 1 / (nx * ny);
  const acc = new Float64Array(c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      acc.fill(0);
      for (let sj = 0; sj < ny; sj++) {
        const oy = y + (sj + 0.5) / ny;
        for (let si = 0; si < nx; si++) {
          const ox = x + (si + 0.5) / nx;
          // continuous source point → index space (pixel centres at integers)
          const u = m[0] * ox + m[1] * oy + m[2] - 0.5;
          const v = m[3] * ox + m[4] * oy + m[5] - 0.5;
          if (constant && (u < -0.5 || v < -0.5 || u > W - 0.5 || v > H - 0.5)) {
            for (let k = 0; k < c; k++) acc[k] += fill;
            continue;
          }
          const fu = Math.floor(u);
          const fv = Math.floor(v);
          const ax = u - fu;
          const ay = v - fv;
          const x0 = fu < 0 ? 0 : fu >= W ? W - 1 : fu;
          const x1 = fu + 1 < 0 ? 0 : fu + 1 >= W ? W - 1 : fu + 1;
          const y0 = fv < 0 ? 0 : fv >= H ? H - 1 : fv;
          const y1 = fv + 1 < 0 ? 0 : fv + 1 >= H ? H - 1 : fv + 1;
          const i00 = (y0 * W + x0) * c;
          const i01 = (y0 * W + x1) * c;
          const i10 = (y1 * W + x0) * c;
          const i11 = (y1 * W + x1) * c;
          const w00 = (1 - ax) * (1 - ay);
          const w01 = ax * (1 - ay);
          const w10 = (1 - ax) * ay;
          const w11 = ax * ay;
          for (let k = 0; k < c; k++) {
            acc[k] += src[i00 + k] * w00 + src[i01 + k] * w01 + src[i10 + k] * w10 + src[i11 + k] * w11;
          }
        }
      }
      const o = (y * width + x) * c;
      for (let k = 0; k < c; k++) out[o + k] = Math.round(acc[k] * inv);
    }
  }
  return { width, height, channels: c as Channels, data: out };
}

/** Averages `nx` x `ny` blocks (the image size must be a multiple of them). */
function boxReduce(img: RawImage, nx: number, ny: number): RawImage {
  const c = img.channels;
  const w = img.width / nx;
  const h = img.height / ny;
  const src = img.data;
  const rowLen = img.width * c;
  const out = new Uint8Array(w * h * c);
  const acc = new Uint32Array(w * c);
  const half = (nx * ny) >> 1;
  const div = nx * ny;
  for (let y = 0; y < h; y++) {
    acc.fill(0);
    for (let dy = 0; dy < ny; dy++) {
      let si = (y * ny + dy) * rowLen;
      for (let x = 0, o = 0; x < w; x++, o += c) {
        for (let dx = 0; dx < nx; dx++) for (let k = 0; k < c; k++) acc[o + k] += src[si++];
      }
    }
    const base = y * w * c;
    for (let i = 0; i < w * c; i++) out[base + i] = ((acc[i] + half) / div) | 0;
  }
  return { width: w, height: h, channels: img.channels, data: out };
}

/** {@link warpAffine}'s common case: one bilinear sample per pixel, edge replication. */
function warpBilinear(img: RawImage, m: Affine, width: number, height: number): RawImage {
  const c = img.channels;
  const W = img.width;
  const H = img.height;
  const src = img.data;
  const out = new Uint8Array(width * height * c);
  let o = 0;
  for (let y = 0; y < height; y++) {
    // index-space source point of output pixel (0, y), stepping by (m[0], m[3]) along x
    let u = m[0] * 0.5 + m[1] * (y + 0.5) + m[2] - 0.5;
    let v = m[3] * 0.5 + m[4] * (y + 0.5) + m[5] - 0.5;
    const uEnd = u + m[0] * (width - 1);
    const vEnd = v + m[3] * (width - 1);
    // Rows whose samples all have their 2x2 taps inside the image skip the clamping.
    const inside = Math.min(u, uEnd) >= 0 && Math.max(u, uEnd) < W - 1 && Math.min(v, vEnd) >= 0 && Math.max(v, vEnd) < H - 1;
    if (inside && c === 1) {
      for (let x = 0; x < width; x++, u += m[0], v += m[3]) {
        const fu = u | 0;
        const fv = v | 0;
        const ax = u - fu;
        const ay = v - fv;
        const i = fv * W + fu;
        const top = src[i] + (src[i + 1] - src[i]) * ax;
        const bot = src[i + W] + (src[i + W + 1] - src[i + W]) * ax;
        out[o++] = top + (bot - top) * ay + 0.5;
      }
      continue;
    }
    if (inside && c === 3) {
      const rs = W * 3;
      for (let x = 0; x < width; x++, u += m[0], v += m[3]) {
        const fu = u | 0;
        const fv = v | 0;
        const ax = u - fu;
        const ay = v - fv;
        const i = (fv * W + fu) * 3;
        for (let k = 0; k < 3; k++) {
          const top = src[i + k] + (src[i + k + 3] - src[i + k]) * ax;
          const bot = src[i + rs + k] + (src[i + rs + k + 3] - src[i + rs + k]) * ax;
          out[o++] = top + (bot - top) * ay + 0.5;
        }
      }
      continue;
    }
    for (let x = 0; x < width; x++, u += m[0], v += m[3]) {
      const fu = Math.floor(u);
      const fv = Math.floor(v);
      const ax = u - fu;
      const ay = v - fv;
      const x0 = fu < 0 ? 0 : fu >= W ? W - 1 : fu;
      const x1 = fu + 1 < 0 ? 0 : fu + 1 >= W ? W - 1 : fu + 1;
      const r0 = (fv < 0 ? 0 : fv >= H ? H - 1 : fv) * W;
      const r1 = (fv + 1 < 0 ? 0 : fv + 1 >= H ? H - 1 : fv + 1) * W;
      const i00 = (r0 + x0) * c;
      const i01 = (r0 + x1) * c;
      const i10 = (r1 + x0) * c;
      const i11 = (r1 + x1) * c;
      const w00 = (1 - ax) * (1 - ay);
      const w01 = ax * (1 - ay);
      const w10 = (1 - ax) * ay;
      const w11 = ax * ay;
      for (let k = 0; k < c; k++, o++) {
        out[o] = src[i00 + k] * w00 + src[i01 + k] * w01 + src[i10 + k] * w10 + src[i11 + k] * w11 + 0.5;
      }
    }
  }
  return { width, height, channels: c, data: out };
}

/**
 * Copies an axis-aligned rectangle (integer pixel bounds, clipped to the image).
 *
 * @example
 * ```ts
 * const face = cropRect(img, { x: 100, y: 50, width: 120, height: 120 });
 * ```
 */
export function cropRect(img: RawImage, rect: { x: number; y: number; width: number; height: number }): RawImage {
  assertRawImage(img);
  const x0 = Math.max(0, Math.floor(rect.x));
  const y0 = Math.max(0, Math.floor(rect.y));
  const x1 = Math.min(img.width, Math.ceil(rect.x + rect.width));
  const y1 = Math.min(img.height, Math.ceil(rect.y + rect.height));
  if (x1 <= x0 || y1 <= y0) throw new ImageError('EMPTY', 'crop rectangle lies outside the image');
  const c = img.channels;
  const w = x1 - x0;
  const out = new Uint8Array(w * (y1 - y0) * c);
  for (let y = y0; y < y1; y++) {
    out.set(img.data.subarray((y * img.width + x0) * c, (y * img.width + x1) * c), (y - y0) * w * c);
  }
  return { width: w, height: y1 - y0, channels: c, data: out };
}

/**
 * Fits an image inside `width` x `height` keeping its aspect ratio (anti-aliased resize),
 * centred on a `fill`-coloured canvas. Returns the image and where the content landed.
 *
 * @example
 * ```ts
 * const { image } = letterbox(photo, 640, 480); // a 1920x1280 photo → 640x427 band, black bars
 * ```
 */
export function letterbox(
  img: RawImage,
  width: number,
  height: number,
  fill = 0,
): { image: RawImage; scale: number; offsetX: number; offsetY: number } {
  assertRawImage(img);
  const scale = Math.min(width / img.width, height / img.height);
  const cw = Math.max(1, Math.round(img.width * scale));
  const ch = Math.max(1, Math.round(img.height * scale));
  const offsetX = Math.floor((width - cw) / 2);
  const offsetY = Math.floor((height - ch) / 2);
  const m: Affine = [1 / scale, 0, -offsetX / scale, 0, 1 / scale, -offsetY / scale];
  const image = warpAffine(img, m, width, height, { border: 'constant', fill });
  return { image, scale, offsetX, offsetY };
}

/** Scratch for {@link warpToGray}'s gray source region (grown on demand up to 1 MB, reused). */
let grayScratch = new Uint8Array(0);
const SCRATCH_MAX = 1 << 20;

/**
 * Warps straight to one gray channel: the pixels of `warpAffine(toGray(img), m, width, height)`
 * (edge replication, the same supersampling when the map shrinks by more than 1.5x; a rare
 * pixel may differ by 1 because coordinates are taken relative to the region), without
 * converting the whole image or building intermediate images. Only the source region under the
 * output (plus 2 px) is converted to gray, into a reused scratch buffer, and the supersamples
 * are averaged on the fly.
 *
 * <span class="informal">The face crop primitive: RGB frame → aligned 48x48 gray in one call.</span>
 *
 * @example
 * ```ts
 * const crop = warpToGray(frameImage, alignmentTransform(det.keypoints), 48, 48); // { channels: 1 }
 * ```
 * @param img Source image (1, 3 or 4 channels; BT.601 luma as {@link toGray}).
 * @param m Output→source map in continuous pixel coordinates.
 * @param width Output width.
 * @param height Output height.
 * @return A gray image.
 */
export function warpToGray(img: RawImage, m: Affine, width: number, height: number): RawImage & { channels: 1 } {
  assertRawImage(img);
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageError('BAD_ARGUMENT', `warp target must be positive integers, got ${width}x${height}`);
  }
  if (!m.every(Number.isFinite)) throw new ImageError('BAD_ARGUMENT', 'affine map has non-finite entries');
  const W = img.width;
  const H = img.height;
  // Source footprint of the output, plus 2 px for the bilinear taps, clipped to the image (at
  // least one pixel: an output wholly outside samples the nearest edge, as replication does).
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [ox, oy] of [[0, 0], [width, 0], [0, height], [width, height]]) {
    const px = m[0] * ox + m[1] * oy + m[2];
    const py = m[3] * ox + m[4] * oy + m[5];
    if (px < minX) minX = px;
    if (px > maxX) maxX = px;
    if (py < minY) minY = py;
    if (py > maxY) maxY = py;
  }
  const x0 = Math.min(W - 1, Math.max(0, Math.floor(minX) - 2));
  const y0 = Math.min(H - 1, Math.max(0, Math.floor(minY) - 2));
  const x1 = Math.max(x0 + 1, Math.min(W, Math.ceil(maxX) + 2));
  const y1 = Math.max(y0 + 1, Math.min(H, Math.ceil(maxY) + 2));
  const rw = x1 - x0;
  const rh = y1 - y0;
  // Regions up to 1 MP reuse the scratch; a bigger one (a face filling an 8K frame) gets its own.
  if (grayScratch.length < rw * rh && rw * rh <= SCRATCH_MAX) grayScratch = new Uint8Array(Math.min(SCRATCH_MAX, Math.max(rw * rh, grayScratch.length * 2)));
  const g = rw * rh <= grayScratch.length ? grayScratch : new Uint8Array(rw * rh);
  const c = img.channels;
  const src = img.data;
  for (let y = 0, o = 0; y < rh; y++) {
    let j = ((y0 + y) * W + x0) * c;
    if (c === 1) {
      g.set(src.subarray(j, j + rw), o);
      o += rw;
      continue;
    }
    for (let x = 0; x < rw; x++, j += c) g[o++] = (src[j] * R_W + src[j + 1] * G_W + src[j + 2] * B_W + 128) >> 8;
  }
  // The map in region coordinates, on the fine (supersampling) grid: as warpAffine computes it.
  const sx = Math.hypot(m[0], m[3]);
  const sy = Math.hypot(m[1], m[4]);
  const nx = sx > 1.5 ? Math.ceil(sx) : 1;
  const ny = sy > 1.5 ? Math.ceil(sy) : 1;
  const a0 = m[0] / nx;
  const a1 = m[1] / ny;
  const a2 = m[2] - x0;
  const a3 = m[3] / nx;
  const a4 = m[4] / ny;
  const a5 = m[5] - y0;
  const out = new Uint8Array(width * height);
  const acc = new Uint32Array(width);
  const fineW = width * nx;
  const div = nx * ny;
  const half = div >> 1;
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    for (let sj = 0; sj < ny; sj++) {
      const fy = y * ny + sj;
      let u = a0 * 0.5 + a1 * (fy + 0.5) + a2 - 0.5;
      let v = a3 * 0.5 + a4 * (fy + 0.5) + a5 - 0.5;
      const uEnd = u + a0 * (fineW - 1);
      const vEnd = v + a3 * (fineW - 1);
      const inside = Math.min(u, uEnd) >= 0 && Math.max(u, uEnd) < rw - 1 && Math.min(v, vEnd) >= 0 && Math.max(v, vEnd) < rh - 1;
      if (inside) {
        // Rows whose taps are all inside the region: no clamping.
        for (let x = 0; x < width; x++) {
          let sum = 0;
          for (let si = 0; si < nx; si++, u += a0, v += a3) {
            const fu = u | 0;
            const fv = v | 0;
            const ax = u - fu;
            const ay = v - fv;
            const i = fv * rw + fu;
            const top = g[i] + (g[i + 1] - g[i]) * ax;
            const bot = g[i + rw] + (g[i + rw + 1] - g[i + rw]) * ax;
            sum += (top + (bot - top) * ay + 0.5) | 0;
          }
          acc[x] += sum;
        }
        continue;
      }
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let si = 0; si < nx; si++, u += a0, v += a3) {
          // Edge replication: taps clamped to the region (= the image at its border).
          const fu = Math.floor(u);
          const fv = Math.floor(v);
          const ax = u - fu;
          const ay = v - fv;
          const c0 = fu < 0 ? 0 : fu >= rw ? rw - 1 : fu;
          const c1 = fu + 1 < 0 ? 0 : fu + 1 >= rw ? rw - 1 : fu + 1;
          const r0 = (fv < 0 ? 0 : fv >= rh ? rh - 1 : fv) * rw;
          const r1 = (fv + 1 < 0 ? 0 : fv + 1 >= rh ? rh - 1 : fv + 1) * rw;
          sum += (g[r0 + c0] * ((1 - ax) * (1 - ay)) + g[r0 + c1] * (ax * (1 - ay)) + g[r1 + c0] * ((1 - ax) * ay) + g[r1 + c1] * (ax * ay) + 0.5) | 0;
        }
        acc[x] += sum;
      }
    }
    const base = y * width;
    for (let x = 0; x < width; x++) out[base + x] = ((acc[x] + half) / div) | 0;
  }
  return { width, height, channels: 1, data: out };
}
