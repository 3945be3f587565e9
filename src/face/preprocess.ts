/**
 * Detector input preparation in typed-array code: RGB/gray/RGBA pixels → aspect-preserving
 * resize (2x2 supersampling when shrinking 2x or more, else bilinear) → float32 in [-1, 1],
 * padded on the right and bottom to a multiple of the network's total stride, in one pass.
 * No per-pixel objects and no full-size tensors: only the small network input is uploaded to
 * the backend. A caller that detects frame after frame passes its previous buffer back, so the
 * input is neither reallocated nor re-padded (the padding of a same-geometry buffer is intact).
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

function sameGeometry(a: LetterboxGeometry, b: LetterboxGeometry): boolean {
  return a.inputWidth === b.inputWidth && a.inputHeight === b.inputHeight && a.contentWidth === b.contentWidth && a.contentHeight === b.contentHeight;
}

/**
 * Shrinks by 2x or more into the top-left `cw` x `ch` of an `IW`-wide input in [-1, 1]: each
 * output pixel averages four source pixels at the quarter points of its footprint (a 2x2
 * ordered-grid supersample). Anti-aliases much like a box filter at the cost of bilinear
 * (4 reads per channel): ~0.5 ms for 640x480 → 192x144, where a full box filter costs ~2 ms.
 */
function supersampleInto(img: RawImage, out: Float32Array, IW: number, cw: number, ch: number): void {
  const c = img.channels;
  const W = img.width;
  const src = img.data;
  const rx = img.width / cw;
  const ry = img.height / ch;
  const colA = new Int32Array(cw);
  const colB = new Int32Array(cw);
  for (let x = 0; x < cw; x++) {
    colA[x] = Math.min(W - 1, Math.floor((x + 0.25) * rx)) * c;
    colB[x] = Math.min(W - 1, Math.floor((x + 0.75) * rx)) * c;
  }
  const g1 = c >= 3 ? 1 : 0;
  const g2 = c >= 3 ? 2 : 0;
  const k = 2 / (255 * 4);
  for (let y = 0; y < ch; y++) {
    const ra = Math.min(img.height - 1, Math.floor((y + 0.25) * ry)) * W * c;
    const rb = Math.min(img.height - 1, Math.floor((y + 0.75) * ry)) * W * c;
    let o = y * IW * 3;
    if (c === 3) {
      // RGB, the common case: constant channel offsets (about 10 % faster than the general loop)
      for (let x = 0; x < cw; x++) {
        const i0 = ra + colA[x];
        const i1 = ra + colB[x];
        const i2 = rb + colA[x];
        const i3 = rb + colB[x];
        out[o++] = (src[i0] + src[i1] + src[i2] + src[i3]) * k - 1;
        out[o++] = (src[i0 + 1] + src[i1 + 1] + src[i2 + 1] + src[i3 + 1]) * k - 1;
        out[o++] = (src[i0 + 2] + src[i1 + 2] + src[i2 + 2] + src[i3 + 2]) * k - 1;
      }
      continue;
    }
    for (let x = 0; x < cw; x++, o += 3) {
      const a = colA[x];
      const b = colB[x];
      out[o] = (src[ra + a] + src[ra + b] + src[rb + a] + src[rb + b]) * k - 1;
      out[o + 1] = (src[ra + a + g1] + src[ra + b + g1] + src[rb + a + g1] + src[rb + b + g1]) * k - 1;
      out[o + 2] = (src[ra + a + g2] + src[ra + b + g2] + src[rb + a + g2] + src[rb + b + g2]) * k - 1;
    }
  }
}

/**
 * Fills a network input (NHWC, batch 1, 3 channels, values in [-1, 1]); padding is black (-1),
 * as MediaPipe's letterbox. Returns the buffer and the geometry to map outputs back.
 * `reuse`: the result of the previous call; when the geometry is unchanged its buffer is
 * overwritten and returned (so the caller must be done with it), otherwise a new one is made.
 */
export function prepareInput(
  img: RawImage,
  size: number,
  stride: number,
  reuse?: { data: Float32Array; geo: LetterboxGeometry },
): { data: Float32Array; geo: LetterboxGeometry } {
  const geo = letterboxGeometry(img.width, img.height, size, stride);
  const { inputWidth: IW, inputHeight: IH, contentWidth: cw, contentHeight: ch } = geo;
  // A buffer of the same geometry has its padding (-1) in place: only the content is rewritten.
  const same = reuse && sameGeometry(reuse.geo, geo) && reuse.data.length === IW * IH * 3;
  const out = same ? reuse.data : new Float32Array(IW * IH * 3).fill(-1);
  if (img.width >= 2 * cw && img.height >= 2 * ch) {
    supersampleInto(img, out, IW, cw, ch);
    return { data: out, geo };
  }
  // Shrinking less than 2x, or enlarging: bilinear (half-pixel centres).
  const sw = img.width;
  const sh = img.height;
  const sdata = img.data;
  const sc = img.channels;
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
