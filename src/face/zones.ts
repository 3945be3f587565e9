/**
 * Where in the frame faces count: a region of interest (detection runs on that part of the frame
 * only, scaled up to the detector's input) and ignore zones (a TV, a poster, a mirror: faces
 * whose box centre falls in one are dropped). Zones are fractions of the frame (0..1), so one
 * setting fits every resolution of a camera.
 */
import { Box, Detection, FaceKeypoints, KEYPOINT_NAMES } from './types';

/** A rectangle in fractions of the frame: `{ x: 0.5, y: 0, width: 0.5, height: 1 }` is the right half. */
export interface Zone {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Ignore zones accepted at most. */
export const MAX_IGNORE_ZONES = 16;

export interface ResolvedZones {
  /** Null: the whole frame. */
  roi: Zone | null;
  ignore: Zone[];
}

const EPS = 1e-9;

/** A value for an error message (JSON where it can be: a BigInt or a cycle must not hide the real error). */
function show(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 199)}…` : s;
  } catch {
    return String(v);
  }
}

function checkZone(name: string, z: unknown): Zone {
  const o = z as Partial<Zone> | null;
  const ok =
    !!o &&
    typeof o === 'object' &&
    [o.x, o.y, o.width, o.height].every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    o.x! >= 0 &&
    o.y! >= 0 &&
    o.width! > 0 &&
    o.height! > 0 &&
    o.x! + o.width! <= 1 + EPS &&
    o.y! + o.height! <= 1 + EPS;
  if (!ok) {
    throw new TypeError(`Expected \`${name}\` to be { x, y, width, height } in fractions of the frame (0..1, inside it, width and height > 0), got \`${show(z)}\``);
  }
  // A rounding overshoot (0.9 + 0.1) is clipped to the frame's edge.
  return { x: o!.x!, y: o!.y!, width: o!.x! + o!.width! > 1 ? 1 - o!.x! : o!.width!, height: o!.y! + o!.height! > 1 ? 1 - o!.y! : o!.height! };
}

/** Validates a region of interest and ignore zones (a TypeError names the bad one). */
export function resolveZones(options: { roi?: Zone | string | null; ignore?: Zone[] | string | null }): ResolvedZones {
  const roiList = typeof options.roi === 'string' ? parseZones(options.roi, 'roi') : null;
  if (roiList && roiList.length > 1) throw new TypeError(`Expected \`roi\` to be one zone, got ${roiList.length} in "${String(options.roi)}"`);
  const roiIn = roiList ? roiList[0] ?? null : options.roi ?? null;
  const ignoreIn = typeof options.ignore === 'string' ? parseZones(options.ignore, 'ignore') : options.ignore ?? [];
  if (!Array.isArray(ignoreIn) || ignoreIn.length > MAX_IGNORE_ZONES) {
    throw new TypeError(`Expected \`ignore\` to be a list of at most ${MAX_IGNORE_ZONES} zones, got \`${show(options.ignore)}\``);
  }
  let roi = roiIn === null ? null : checkZone('roi', roiIn);
  if (roi && roi.x <= EPS && roi.y <= EPS && roi.width >= 1 - EPS && roi.height >= 1 - EPS) roi = null; // the whole frame
  return { roi, ignore: ignoreIn.map((z, i) => checkZone(`ignore[${i}]`, z)) };
}

/**
 * Parses zones written as percentages of the frame, `left,top,width,height`, several separated
 * by `;` (the face node's text fields): `"60,0,40,50"` is the top right 40 % x 50 % of the
 * frame. An empty string gives none.
 */
export function parseZones(text: string, name = 'zones'): Zone[] {
  const parts = text
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return parts.map((p, i) => {
    // An empty field is not 0 (Number('') is): "10,,20,30" is a mistake, as the editor says.
    const v = p.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (v.length !== 4 || v.some((n) => !Number.isFinite(n))) {
      throw new TypeError(`Expected \`${name}\` zone ${i + 1} as "left,top,width,height" in % of the frame, got "${p}"`);
    }
    return checkZone(`${name}[${i}]`, { x: v[0] / 100, y: v[1] / 100, width: v[2] / 100, height: v[3] / 100 });
  });
}

/** A zone in whole pixels of a `width` x `height` frame (at least 1x1, inside it). */
export function zoneToPixels(z: Zone, width: number, height: number): Box {
  const x0 = Math.min(width - 1, Math.max(0, Math.floor(z.x * width)));
  const y0 = Math.min(height - 1, Math.max(0, Math.floor(z.y * height)));
  const x1 = Math.max(x0 + 1, Math.min(width, Math.ceil((z.x + z.width) * width)));
  const y1 = Math.max(y0 + 1, Math.min(height, Math.ceil((z.y + z.height) * height)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The point (px, py) lies in box b (left and top edges in, right and bottom out). */
export function inBox(px: number, py: number, b: Box): boolean {
  return px >= b.x && px < b.x + b.width && py >= b.y && py < b.y + b.height;
}

/** A detection made on a part of the frame, moved to frame coordinates. */
export function offsetDetection(d: Detection, dx: number, dy: number): Detection {
  const keypoints = {} as FaceKeypoints;
  for (const k of KEYPOINT_NAMES) keypoints[k] = { x: d.keypoints[k].x + dx, y: d.keypoints[k].y + dy };
  return { box: { ...d.box, x: d.box.x + dx, y: d.box.y + dy }, score: d.score, keypoints };
}

/** The detections (or tracked faces) whose box centre lies in the region of interest and in no ignore zone. */
export function keepInZones<T extends { box: Box }>(dets: T[], zones: ResolvedZones, width: number, height: number): T[] {
  if (!zones.roi && zones.ignore.length === 0) return dets;
  const roi = zones.roi ? zoneToPixels(zones.roi, width, height) : null;
  const ignore = zones.ignore.map((z) => zoneToPixels(z, width, height));
  return dets.filter((d) => {
    const cx = d.box.x + d.box.width / 2;
    const cy = d.box.y + d.box.height / 2;
    return (!roi || inBox(cx, cy, roi)) && !ignore.some((b) => inBox(cx, cy, b));
  });
}
