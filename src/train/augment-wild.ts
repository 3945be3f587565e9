/**
 * Stronger augmentation for in-the-wild faces (FER2013/FER+), on top of the geometric
 * augmentation of {@link augmentInto} (flip, rotation, scale, shift, gamma):
 * brightness and contrast with clipping (the graph standardises each image, so only the
 * clipping and the non-linear gamma change what the network sees), Gaussian blur (soft,
 * out-of-focus webcam faces), occlusion patches (hands, glasses, hair, masks) and pixel noise.
 * Plain JS, seeded through `rand`.
 */
import { augmentInto, AugmentOptions } from './augment';

export interface WildAugmentOptions extends AugmentOptions {
  /** Max brightness shift in gray levels (±). */
  brightness: number;
  /** Max relative contrast change (0.3 = ×0.7..×1.3). */
  contrast: number;
  /** Probability of a 3x3 Gaussian blur (applied once or twice). */
  blurProb: number;
  /** Probability of one occlusion patch. */
  occlusionProb: number;
  /** Patch side range as a fraction of the image side. */
  occlusionMin: number;
  occlusionMax: number;
  /** Std of additive Gaussian pixel noise, gray levels (0 = off); drawn uniformly up to this. */
  noise: number;
}

export const WILD_AUGMENT: WildAugmentOptions = {
  flip: true,
  rotate: 15,
  scale: 0.15,
  shift: 4,
  gamma: 0.3,
  brightness: 40,
  contrast: 0.35,
  blurProb: 0.2,
  occlusionProb: 0.3,
  occlusionMin: 0.15,
  occlusionMax: 0.4,
  noise: 6,
};

/**
 * A milder preset for a short low-learning-rate "clean finish" after a run trained with
 * {@link WILD_AUGMENT} (the small models fit the augmented training set less well than the
 * validation set, so the last epochs might profit from images closer to the test distribution).
 * Measured once (session 6, Nano-A from its epoch-36 snapshot): no gain on FER+ PublicTest.
 */
export const WILD_AUGMENT_LIGHT: WildAugmentOptions = {
  flip: true,
  rotate: 8,
  scale: 0.08,
  shift: 2,
  gamma: 0.15,
  brightness: 20,
  contrast: 0.15,
  blurProb: 0.05,
  occlusionProb: 0.05,
  occlusionMin: 0.15,
  occlusionMax: 0.3,
  noise: 2,
};

/** Augmentation presets by name (`train:fer --augment <name>`); `none` is no augmentation. */
export const WILD_AUGMENT_PRESETS: Readonly<Record<string, WildAugmentOptions | null>> = { wild: WILD_AUGMENT, light: WILD_AUGMENT_LIGHT, none: null };

/** The preset called `name`, or a clear error naming the known ones. */
export function wildAugmentPreset(name: string): WildAugmentOptions | null {
  if (!Object.prototype.hasOwnProperty.call(WILD_AUGMENT_PRESETS, name)) {
    throw new Error(`Unknown augmentation preset "${name}" (known: ${Object.keys(WILD_AUGMENT_PRESETS).join(', ')})`);
  }
  return WILD_AUGMENT_PRESETS[name];
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** 3x3 binomial blur ([1 2 1]/4 separable) of a size×size region of `buf` in place. */
export function blur3x3(buf: Float32Array, offset: number, size: number, tmp: Float32Array = new Float32Array(size * size)): void {
  const max = size - 1;
  for (let y = 0; y < size; y++) {
    const r = offset + y * size;
    for (let x = 0; x < size; x++) {
      const l = buf[r + (x > 0 ? x - 1 : 0)];
      const c = buf[r + x];
      const rr = buf[r + (x < max ? x + 1 : max)];
      tmp[y * size + x] = (l + 2 * c + rr) * 0.25;
    }
  }
  for (let y = 0; y < size; y++) {
    const up = (y > 0 ? y - 1 : 0) * size;
    const dn = (y < max ? y + 1 : max) * size;
    for (let x = 0; x < size; x++) buf[offset + y * size + x] = (tmp[up + x] + 2 * tmp[y * size + x] + tmp[dn + x]) * 0.25;
  }
}

/**
 * Writes an augmented copy of `src` (size×size bytes) into `out` at `offset` (Float32, 0..255).
 * Every random draw comes from `rand`, so the result is a pure function of the seed.
 */
export function augmentWildInto(src: Uint8Array, size: number, out: Float32Array, offset: number, rand: () => number, o: WildAugmentOptions = WILD_AUGMENT): void {
  augmentInto(src, size, out, offset, rand, o);
  const n = size * size;
  // Brightness / contrast about mid-gray, clipped (saturation is what survives standardisation).
  const ct = 1 + (rand() * 2 - 1) * o.contrast;
  const br = (rand() * 2 - 1) * o.brightness;
  if (o.contrast > 0 || o.brightness > 0) {
    for (let i = 0; i < n; i++) {
      const v = (out[offset + i] - 128) * ct + 128 + br;
      out[offset + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  if (o.blurProb > 0 && rand() < o.blurProb) {
    const tmp = new Float32Array(n);
    blur3x3(out, offset, size, tmp);
    if (rand() < 0.5) blur3x3(out, offset, size, tmp);
  }
  if (o.occlusionProb > 0 && rand() < o.occlusionProb) {
    const side = () => Math.max(1, Math.round(size * (o.occlusionMin + rand() * (o.occlusionMax - o.occlusionMin))));
    const w = side();
    const h = side();
    const x0 = Math.floor(rand() * (size - w + 1));
    const y0 = Math.floor(rand() * (size - h + 1));
    const flat = rand() < 0.5;
    const v0 = rand() * 255;
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) out[offset + y * size + x] = flat ? v0 : rand() * 255;
    }
  }
  if (o.noise > 0) {
    const s = rand() * o.noise;
    if (s > 0.5) {
      for (let i = 0; i < n; i++) {
        const v = out[offset + i] + gaussian(rand) * s;
        out[offset + i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
}
