/**
 * `npm run bench:reid`: how well the tracker's 16x16 appearance signature (src/face/tracker.ts
 * re-identification) tells faces apart. The 22 faces of the six `@vladmandic/face-api` demo photos
 * (MIT; a devDependency) are shown in 640x480 frames in 11 variants each (shifts, 85–170 px widths,
 * ±15° rotation, brightness ±20 %, JPEG q60, a combination) plus 5 frames of the moving demo clip;
 * every view goes through the detector, `cropFace` (fer2013 framing) and `appearanceDescriptor`,
 * exactly as in tracking. Prints the similarity distributions of same-face and different-face
 * pairs, the share of each accepted at the tracker's thresholds (edge 0.2, near 0.5, anywhere
 * 0.85) and others, and per face the worst same vs the best different score. The README's *Face
 * crop* figures come from this command.
 */
import { appearanceDescriptor, cropFace, loadFaceDetector, Detection } from '../src/face';
import { Affine, decodeImage, encodeJpeg, letterbox, RawImage, toRgb, warpAffine } from '../src/image';
import { silentLogger } from '../src/log';
import { demoPhoto, DEMO_FACE_COUNTS, movingClip } from './stages/detect';

if (process.argv.slice(2).length) {
  process.stdout.write('Usage: npm run bench:reid   (no options; about 30 s of one core)\n');
  process.exit(process.argv.includes('--help') ? 0 : 2);
}

const sim = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
function q(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const p = (f: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(f * (s.length - 1))))];
  return { n: s.length, min: s[0], p1: p(0.01), p5: p(0.05), median: p(0.5), p95: p(0.95), p99: p(0.99), max: s[s.length - 1] };
}
const fmt = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${k === 'n' ? v : v.toFixed(3)}`).join('  ');

(async () => {
  const det = await loadFaceDetector({ logger: silentLogger });
  const crop = (img: RawImage, d: Detection) => appearanceDescriptor(cropFace(img, d, { size: 48, framing: 'fer2013', margin: 0 }));
  // 22 faces from the letterboxed photos, in photo coordinates.
  type F = { photo: number; cx: number; cy: number; w: number; ang: number; name: string };
  const faces: F[] = [];
  const photos: RawImage[] = [];
  for (let p = 1; p <= 6; p++) {
    const full = demoPhoto(p);
    photos[p] = full;
    const lb = letterbox(full, 640, 480);
    const dets = det.detectImage(lb.image).sort((a, b) => a.box.x - b.box.x);
    if (dets.length !== DEMO_FACE_COUNTS[p - 1]) console.log(`photo ${p}: ${dets.length} detections (expected ${DEMO_FACE_COUNTS[p - 1]})`);
    dets.forEach((d, k) => {
      const ang = Math.atan2(d.keypoints.leftEye.y - d.keypoints.rightEye.y, d.keypoints.leftEye.x - d.keypoints.rightEye.x);
      faces.push({ photo: p, cx: (d.box.x + d.box.width / 2 - lb.offsetX) / lb.scale, cy: (d.box.y + d.box.height / 2 - lb.offsetY) / lb.scale, w: d.box.width / lb.scale, ang, name: `p${p}f${k}` });
    });
  }
  console.log('faces', faces.length, faces.map((f) => `${f.name}:w${f.w.toFixed(0)}`).join(' '));
  // A 640x480 view of the photo with face f centred at (ox, oy), output width W, rotated by deg.
  function view(f: F, ox: number, oy: number, W: number, deg: number): { img: RawImage; at: [number, number] } {
    const s = f.w / W;
    const t = (deg * Math.PI) / 180;
    const c = Math.cos(t) * s;
    const sn = Math.sin(t) * s;
    // src = c*(x-ox) - sn*(y-oy) + cx ...
    const m: Affine = [c, -sn, f.cx - c * ox + sn * oy, sn, c, f.cy - sn * ox - c * oy];
    return { img: warpAffine(photos[f.photo], m, 640, 480), at: [ox, oy] };
  }
  const bright = (img: RawImage, k: number): RawImage => ({ ...img, data: Uint8Array.from(img.data, (v) => Math.min(255, Math.round(v * k))) });
  const jpegOf = (img: RawImage, qq: number): RawImage => toRgb(decodeImage(encodeJpeg(img, { quality: qq })));
  /** The detection whose box centre is nearest `at`, if within half the face width `W`. */
  function nearest(dets: Detection[], at: [number, number], W: number): Detection | undefined {
    let best: Detection | undefined;
    let bd = Infinity;
    for (const d of dets) {
      const dd = Math.hypot(d.box.x + d.box.width / 2 - at[0], d.box.y + d.box.height / 2 - at[1]);
      if (dd < bd) { bd = dd; best = d; }
    }
    return best && bd < 0.5 * W ? best : undefined;
  }
  const desc: Array<Array<{ v: string; d: Float32Array }>> = faces.map(() => []);
  let missing = 0;
  const variants: Array<[string, (f: F) => { img: RawImage; at: [number, number]; W: number }]> = [
    ['base', (f) => ({ ...view(f, 320, 240, 120, 0), W: 120 })],
    ['shiftL', (f) => ({ ...view(f, 180, 200, 120, 0), W: 120 })],
    ['shiftR', (f) => ({ ...view(f, 460, 290, 120, 0), W: 120 })],
    ['small', (f) => ({ ...view(f, 320, 240, 85, 0), W: 85 })],
    ['large', (f) => ({ ...view(f, 320, 240, 170, 0), W: 170 })],
    ['rot+15', (f) => ({ ...view(f, 320, 240, 120, 15), W: 120 })],
    ['rot-15', (f) => ({ ...view(f, 320, 240, 120, -15), W: 120 })],
    ['dark', (f) => { const v = view(f, 320, 240, 120, 0); return { img: bright(v.img, 0.8), at: v.at, W: 120 }; }],
    ['bright', (f) => { const v = view(f, 320, 240, 120, 0); return { img: bright(v.img, 1.2), at: v.at, W: 120 }; }],
    ['jpeg60', (f) => { const v = view(f, 320, 240, 120, 0); return { img: jpegOf(v.img, 60), at: v.at, W: 120 }; }],
    ['combo', (f) => { const v = view(f, 250, 260, 100, 8); return { img: jpegOf(bright(v.img, 0.9), 75), at: v.at, W: 100 }; }],
  ];
  for (const [name, mk] of variants) {
    faces.forEach((f, i) => {
      const { img, at, W } = mk(f);
      const d = nearest(det.detectImage(img), at, W);
      if (!d) { missing++; console.log('no detection', f.name, name); return; }
      desc[i].push({ v: name, d: crop(img, d) });
    });
  }
  // A few frames of the moving clip of each photo (pan/zoom), identity from its ground truth.
  for (let p = 1; p <= 6; p++) {
    const clip = await movingClip(det, p, 30);
    for (const fi of [0, 6, 14, 22, 29]) {
      const m = clip.views[fi];
      const z = 1 / m[0];
      const img = { width: 640, height: 480, channels: 3 as const, data: clip.frames[fi].data as Uint8Array };
      const dets = det.detectImage(img);
      clip.faces.forEach((cf) => {
        const ox = (cf.x - m[2]) * z;
        const oy = (cf.y - m[5]) * z;
        const W = cf.width * z;
        if (ox < W / 2 || oy < W / 2 || ox > 640 - W / 2 || oy > 480 - W / 2) return;
        // which of the 22 is it
        const i = faces.findIndex((f) => f.photo === p && Math.hypot(f.cx - cf.x * 2, f.cy - cf.y * 2) < f.w * 0.5);
        if (i < 0) return;
        const best = nearest(dets, [ox, oy], W);
        if (best) desc[i].push({ v: `clip${fi}`, d: crop(img, best) });
      });
    }
  }
  const same: number[] = [];
  const diff: number[] = [];
  const diffBase: number[] = [];
  const sameVsBase: Record<string, number[]> = {};
  for (let i = 0; i < faces.length; i++) {
    for (let a = 0; a < desc[i].length; a++) for (let b = a + 1; b < desc[i].length; b++) same.push(sim(desc[i][a].d, desc[i][b].d));
    const base = desc[i].find((x) => x.v === 'base');
    for (const x of desc[i]) if (base && x !== base) (sameVsBase[x.v.replace(/\d+$/, '') === 'clip' ? 'clip' : x.v] ??= []).push(sim(base.d, x.d));
    for (let j = i + 1; j < faces.length; j++) {
      for (const x of desc[i]) for (const y of desc[j]) diff.push(sim(x.d, y.d));
      const bi = desc[i].find((x) => x.v === 'base');
      const bj = desc[j].find((x) => x.v === 'base');
      if (bi && bj) diffBase.push(sim(bi.d, bj.d));
    }
  }
  console.log('missing detections', missing, 'descriptors per face', desc.map((d) => d.length).join(','));
  console.log('SAME      ', fmt(q(same)));
  console.log('DIFFERENT ', fmt(q(diff)));
  console.log('DIFF base ', fmt(q(diffBase)));
  for (const [k, v] of Object.entries(sameVsBase)) console.log(`same base~${k.padEnd(7)}`, fmt(q(v)));
  for (const T of [0.2, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9]) {
    const share = (xs: number[]) => (100 * xs.filter((s) => s >= T).length) / xs.length;
    console.log(`T=${T}: same >= T ${share(same).toFixed(1)} %, different >= T ${share(diff).toFixed(2)} %, different at the same spot >= T ${share(diffBase).toFixed(1)} %`);
  }
  // Per face: worst same vs best different (could any threshold separate this face from all others?)
  let sep = 0;
  for (let i = 0; i < faces.length; i++) {
    const s = [];
    for (let a = 0; a < desc[i].length; a++) for (let b = a + 1; b < desc[i].length; b++) s.push(sim(desc[i][a].d, desc[i][b].d));
    let dmax = -1;
    for (let j = 0; j < faces.length; j++) if (j !== i) for (const x of desc[i]) for (const y of desc[j]) dmax = Math.max(dmax, sim(x.d, y.d));
    const smin = Math.min(...s);
    if (smin > dmax) sep++;
    console.log(`${faces[i].name}: same min ${smin.toFixed(3)} median ${q(s).median.toFixed(3)} | different max ${dmax.toFixed(3)}`);
  }
  console.log(`faces whose worst same > best different: ${sep}/${faces.length}`);
  det.dispose();
})();
