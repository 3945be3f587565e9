/**
 * Face alignment and crop: the ONE crop function used by live inference and by evaluation on
 * uncropped photos (`eval --detect`), so the classifier sees the same framing in both.
 *
 * A similarity transform (rotation + uniform scale + shift) puts the two eye keypoints on a
 * level line at the framing's eye positions; the scale comes from the inter-ocular distance,
 * guarded by the eye-to-mouth distance so a turned head (eyes foreshortened) is not zoomed in.
 */
import { Frame } from '../frame';
import { Affine, imageFromFrame, RawImage, warpToGray } from '../image';
import { FaceKeypoints, GrayImage, Point } from './types';

/**
 * Where the face sits in a square crop, as fractions of the crop side (0..1 from the top-left).
 * The eyes land at (centerX ∓ eyeDistance/2, eyeY); `mouthY`, when given, is the mouth centre.
 */
export interface CropFraming {
  name: string;
  /** Eye line height. */
  eyeY: number;
  /** Inter-ocular distance (between eye centres). */
  eyeDistance: number;
  /** Horizontal centre between the eyes. @default 0.5 */
  centerX?: number;
  /** Mouth centre height; enables the eye–mouth scale guard for turned heads. */
  mouthY?: number;
  /** Where the numbers come from. */
  source?: string;
}

/**
 * Framing presets. `ck48` matches the classifier's CK+ 48x48 training crops; `fer2013` the
 * looser FER2013 crops. Replace or extend with {@link registerFraming}.
 */
// No prototype: a name like "toString" is no preset unless registered, rather than an inherited
// member that looked like one.
export const FRAMINGS: Record<string, CropFraming> = Object.assign(Object.create(null) as Record<string, CropFraming>, {
  ck48: {
    name: 'ck48',
    eyeY: 0.406,
    eyeDistance: 0.379,
    centerX: 0.491,
    mouthY: 0.782,
    source: 'measured on the 789 ck48 crops with this detector (src/cli/framing.ts): eyes (14.47, 19.87) and (32.65, 19.11) px, IOD 18.2 px, mouth y 37.6 px',
  },
  fer2013: {
    name: 'fer2013',
    eyeY: 0.389,
    eyeDistance: 0.354,
    centerX: 0.496,
    mouthY: 0.766,
    source: 'measured the same way on 592 of 600 sampled FER2013 training crops: IOD 17.0 ± 3.5 px (looser and more varied than CK+)',
  },
});

/** Adds or replaces a framing preset (e.g. a measured one). */
export function registerFraming(framing: CropFraming): void {
  validateFraming(framing);
  FRAMINGS[framing.name] = { ...framing };
}

function validateFraming(f: CropFraming): void {
  const ok = (v: unknown, lo: number, hi: number) => typeof v === 'number' && Number.isFinite(v) && v > lo && v < hi;
  if (!f || !ok(f.eyeY, 0, 1) || !ok(f.eyeDistance, 0, 1) || (f.centerX !== undefined && !ok(f.centerX, 0, 1)) ||
    (f.mouthY !== undefined && !(ok(f.mouthY, 0, 1.5) && f.mouthY > f.eyeY))) {
    throw new TypeError(`Invalid crop framing ${JSON.stringify(f)}: eyeY, eyeDistance (and centerX, mouthY > eyeY) must be fractions of the crop side`);
  }
}

export interface CropOptions {
  /** Output side in pixels. @default 48 */
  size?: number;
  /** Preset name or a framing object. @default 'ck48' */
  framing?: string | CropFraming;
  /**
   * Extra context around the framed face, as a fraction of the crop side added on EACH side
   * (0.1 → the framed region covers 1/1.2 of the crop). Negative values zoom in.
   * @default 0
   */
  margin?: number;
}

/** Resolves a framing option to a validated framing object. */
export function resolveFraming(framing: string | CropFraming = 'ck48'): CropFraming {
  if (typeof framing === 'string') {
    const f = FRAMINGS[framing];
    if (!f) throw new TypeError(`Unknown crop framing "${framing}" (known: ${Object.keys(FRAMINGS).join(', ')})`);
    return f;
  }
  validateFraming(framing);
  return framing;
}

/** How much the eye–mouth scale must exceed the inter-ocular scale before it takes over. */
const MOUTH_GUARD_SLACK = 1.1;

const dist = (a: Point, b: Point) => Math.hypot(b.x - a.x, b.y - a.y);

/** A keypoint a crop needs: `{ x, y }` with finite coordinates (throws a TypeError naming it otherwise). */
function checkPoint(keypoints: unknown, name: 'rightEye' | 'leftEye' | 'mouth'): void {
  if (!keypoints || typeof keypoints !== 'object') {
    throw new TypeError(`Aligning a face needs its \`keypoints\` (rightEye, leftEye and mouth as { x, y } in pixels), got \`${String(keypoints)}\``);
  }
  const p = (keypoints as Record<string, unknown>)[name];
  if (!p || typeof p !== 'object' || !Number.isFinite((p as Point).x) || !Number.isFinite((p as Point).y)) {
    const got = p && typeof p === 'object' ? `{ x: ${String((p as Point).x)}, y: ${String((p as Point).y)} }` : String(p);
    throw new TypeError(`Expected \`keypoints.${name}\` to be a point { x, y } with finite coordinates, got \`${got}\``);
  }
}

/**
 * The output→source affine map of an aligned crop (see {@link warpAffine}).
 *
 * @example
 * ```ts
 * const m = alignmentTransform(det.keypoints, { size: 48, framing: 'ck48' });
 * const crop = warpAffine(image, m, 48, 48);
 * ```
 */
export function alignmentTransform(keypoints: Pick<FaceKeypoints, 'rightEye' | 'leftEye' | 'mouth'>, options: CropOptions = {}): Affine {
  const size = options.size ?? 48;
  const f = resolveFraming(options.framing);
  const margin = options.margin ?? 0;
  if (!Number.isFinite(margin) || margin <= -0.45 || margin > 2) throw new TypeError(`Expected \`margin\` in -0.45..2, got \`${String(margin)}\``);
  checkPoint(keypoints, 'rightEye');
  checkPoint(keypoints, 'leftEye');
  if (f.mouthY !== undefined) checkPoint(keypoints, 'mouth');
  const grow = 1 + 2 * margin;
  // Framing in output pixels, shrunk towards the centre by the margin.
  const cx = (0.5 + ((f.centerX ?? 0.5) - 0.5) / grow) * size;
  const ey = (0.5 + (f.eyeY - 0.5) / grow) * size;
  const dEye = (f.eyeDistance / grow) * size;
  // Subject's right eye is on the image left of an upright, non-mirrored face.
  const a = keypoints.rightEye;
  const b = keypoints.leftEye;
  const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  let iod = dist(a, b);
  let angle = Math.atan2(b.y - a.y, b.x - a.x);
  let k = iod / dEye; // source pixels per output pixel
  if (f.mouthY !== undefined) {
    const dMouth = ((f.mouthY - f.eyeY) / grow) * size;
    const em = dist(mid, keypoints.mouth);
    // 10 % slack: on frontal faces the inter-ocular scale alone decides (no jitter from the
    // mouth keypoint); only clearly foreshortened eyes hand over to the eye-mouth distance.
    const kMouth = em / dMouth / MOUTH_GUARD_SLACK;
    if (kMouth > k) k = kMouth;
    if (iod < 1e-6) {
      // Degenerate eyes (both keypoints on one spot): take the roll from the face's vertical axis.
      angle = Math.atan2(keypoints.mouth.y - mid.y, keypoints.mouth.x - mid.x) - Math.PI / 2;
      iod = 0;
    }
  }
  if (!(k > 0) || !Number.isFinite(k)) throw new RangeError('cannot align a face whose keypoints coincide');
  const cos = Math.cos(angle) * k;
  const sin = Math.sin(angle) * k;
  // src = mid + R(angle) * k * (dst - (cx, ey))
  return [cos, -sin, mid.x - cos * cx + sin * ey, sin, cos, mid.y - sin * cx - cos * ey];
}

/**
 * Crops one face: aligned (eyes level), scaled by the inter-ocular distance, framed like the
 * classifier's training crops, grayscale, `size` x `size` (48 by default).
 *
 * <span class="informal">The single crop function for inference and for evaluation.</span>
 *
 * @example
 * ```ts
 * const [det] = await detector.detect(frame);
 * const crop = cropFace(frame, det, { size: 48, margin: 0 }); // { width: 48, height: 48, data }
 * ```
 * @param source A frame (raw or JPEG) or a decoded image.
 * @param face Anything with the detector's keypoints: `rightEye`, `leftEye` and (with a framing
 *   that has `mouthY`, as both presets) `mouth`, each `{ x, y }`; missing ones throw a TypeError.
 * @param options Size, framing preset and margin.
 * @return A gray image whose `data` is a Buffer of size*size bytes.
 */
export function cropFace(
  source: Frame | RawImage,
  face: { keypoints: Pick<FaceKeypoints, 'rightEye' | 'leftEye' | 'mouth'> },
  options: CropOptions = {},
): GrayImage & { data: Buffer } {
  const size = options.size ?? 48;
  if (!Number.isInteger(size) || size < 8 || size > 1024) throw new TypeError(`Expected \`size\` to be an integer in 8..1024, got \`${String(size)}\``);
  // The transform first: bad keypoints (or options) throw before a JPEG frame is decoded.
  const m = alignmentTransform(face?.keypoints, { ...options, size });
  const img = 'channels' in source ? source : imageFromFrame(source);
  // One pass from the frame: only the source region under the crop is converted to gray, then
  // one channel is warped (3x less sampling work than warping colour); edge replication at the
  // image border keeps black wedges out of faces near the frame edge.
  const gray = warpToGray(img, m, size, size).data;
  return { width: size, height: size, data: Buffer.from(gray.buffer, gray.byteOffset, size * size) };
}
