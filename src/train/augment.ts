/**
 * Training augmentation on 48x48 gray crops (plain JS, seeded): horizontal flip, rotation,
 * scale, shift (one bilinear affine warp, border replicated) and a gamma change (brightness and
 * contrast themselves are removed by the per-image standardisation in the graph).
 */
export interface AugmentOptions {
  flip: boolean;
  /** Max rotation, degrees. */
  rotate: number;
  /** Max relative scale change (0.1 = ±10 %). */
  scale: number;
  /** Max shift, pixels. */
  shift: number;
  /** Max |log gamma| (0.25 ≈ gamma 0.78..1.28). */
  gamma: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = { flip: true, rotate: 8, scale: 0.08, shift: 2, gamma: 0.2 };

/** Writes an augmented copy of `src` (size×size bytes) into `out` (Float32, 0..255). */
export function augmentInto(src: Uint8Array, size: number, out: Float32Array, offset: number, rand: () => number, o: AugmentOptions = DEFAULT_AUGMENT): void {
  const flip = o.flip && rand() < 0.5;
  const ang = ((rand() * 2 - 1) * o.rotate * Math.PI) / 180;
  const sc = 1 + (rand() * 2 - 1) * o.scale;
  const tx = (rand() * 2 - 1) * o.shift;
  const ty = (rand() * 2 - 1) * o.shift;
  const g = Math.exp((rand() * 2 - 1) * o.gamma);
  const c = (size - 1) / 2;
  // Output → source: rotate/scale about the centre, then shift.
  const cos = Math.cos(ang) / sc;
  const sin = Math.sin(ang) / sc;
  const max = size - 1;
  let lut: Float32Array | null = null;
  if (Math.abs(g - 1) > 1e-3) {
    lut = new Float32Array(256);
    for (let i = 0; i < 256; i++) lut[i] = 255 * Math.pow(i / 255, g);
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const xo = (flip ? max - x : x) - c - tx;
      const yo = y - c - ty;
      let u = cos * xo + sin * yo + c;
      let v = -sin * xo + cos * yo + c;
      u = u < 0 ? 0 : u > max ? max : u;
      v = v < 0 ? 0 : v > max ? max : v;
      const x0 = Math.floor(u);
      const y0 = Math.floor(v);
      const x1 = x0 < max ? x0 + 1 : x0;
      const y1 = y0 < max ? y0 + 1 : y0;
      const fx = u - x0;
      const fy = v - y0;
      const a = src[y0 * size + x0];
      const b = src[y0 * size + x1];
      const d = src[y1 * size + x0];
      const e = src[y1 * size + x1];
      let p = (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy;
      if (lut) {
        const i = p | 0;
        const f = p - i;
        p = i >= 255 ? lut[255] : lut[i] * (1 - f) + lut[i + 1] * f;
      }
      out[offset + y * size + x] = p;
    }
  }
}
