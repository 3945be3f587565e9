/**
 * `detect` benchmark: BlazeFace + tracking + crop on 640x480 frames, one core, wasm backend.
 *
 * Fixtures are built here (and reused by test/face): the six demo photos of
 * @vladmandic/face-api letterboxed to 640x480 (22 faces), ffmpeg `testsrc` frames (no faces),
 * and a moving-camera clip made from one photo (pan, zoom, one face leaving and coming back)
 * with per-face ground truth from the photo's own detections.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Affine, decodeImage, letterbox, RawImage, resizeBilinear, toRgb, warpAffine, frameFromImage } from '../../src/image';
import { createFaceCropper, Face, FaceDetector, FacePipelineTimings, loadFaceDetector } from '../../src/face';
import { Frame } from '../../src/frame';
import { silentLogger } from '../../src/log';
import { BenchStage, median, percentile, round } from '../harness';

const ROOT = path.resolve(__dirname, '..', '..', ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []));

/** Faces in sample1..6.jpg of @vladmandic/face-api (counted by eye). */
export const DEMO_FACE_COUNTS = [3, 3, 3, 4, 5, 4];

/** Path of the demo photos, or null when @vladmandic/face-api (a devDependency) is absent. */
export function demoPhotoDir(): string | null {
  const dir = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
  return fs.existsSync(path.join(dir, 'sample1.jpg')) ? dir : null;
}

/** Decoded demo photo n (1..6) as RGB. */
export function demoPhoto(n: number): RawImage {
  const dir = demoPhotoDir();
  if (!dir) throw new Error('@vladmandic/face-api is not installed (devDependency with the demo photos)');
  return toRgb(decodeImage(fs.readFileSync(path.join(dir, `sample${n}.jpg`))));
}

let photoFrames: Frame[] | null = null;

/** The six demo photos letterboxed to 640x480 rgb24 frames (built once per process). */
export function demoPhotoFrames(): Frame[] {
  photoFrames ??= DEMO_FACE_COUNTS.map((_, i) => frameFromImage(letterbox(demoPhoto(i + 1), 640, 480).image, { seq: i, sourceId: `photo${i + 1}` }));
  return photoFrames.map((f) => ({ ...f }));
}

/** The bundled ffmpeg binary (or `ffmpeg` on PATH). */
export function ffmpegPath(): string {
  try {
    return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return 'ffmpeg';
  }
}

/** `count` frames of ffmpeg's `testsrc` pattern (640x480 rgb24), through a direct ffmpeg spawn. */
export function testsrcFrames(count: number, source = 'testsrc'): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const size = 640 * 480 * 3;
    const child = spawn(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `${source}=size=640x480:rate=30`,
      '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const all = Buffer.concat(chunks);
      if (code !== 0 || all.length < size * count) return reject(new Error(`ffmpeg testsrc failed (${code}): ${err.trim()}`));
      resolve(Array.from({ length: count }, (_, i) => ({
        width: 640, height: 480, format: 'rgb24' as const, data: all.subarray(i * size, (i + 1) * size),
        timestamp: i * 33, seq: i, sourceId: 'testsrc',
      })));
    });
  });
}

/** A moving-camera clip over one photo with the photo-coordinate centre of every face. */
export interface MovingClip {
  frames: Frame[];
  /** View transform per frame: output→photo affine. */
  views: Affine[];
  /** Face centres and widths in photo coordinates. */
  faces: Array<{ x: number; y: number; width: number }>;
}

/**
 * Builds a 640x480 clip that pans and zooms across a photo: zoom in, pan so the leftmost face
 * leaves the view, hold, pan back (it returns), zoom out. `faces` come from detecting the
 * photo itself at high resolution (ground truth for identity).
 */
export async function movingClip(detector: FaceDetector, photo = 1, frameCount = 120): Promise<MovingClip> {
  const full = demoPhoto(photo);
  // Work on a half-size copy: views then shrink at most ~1.3x, so warps stay single-sample.
  const half = resizeBilinear(full, Math.round(full.width / 2), Math.round(full.height / 2));
  const lb = letterbox(half, 640, 480);
  const faces = detector.detectImage(lb.image).map((d) => ({
    x: (d.box.x + d.box.width / 2 - lb.offsetX) / lb.scale,
    y: (d.box.y + d.box.height / 2 - lb.offsetY) / lb.scale,
    width: d.box.width / lb.scale,
  }));
  const left = faces.reduce((a, b) => (b.x < a.x ? b : a));
  const W = half.width;
  const H = half.height;
  // Key views: centre (cx, cy) in photo pixels and zoom (output pixels per photo pixel).
  const fit = Math.min(640 / W, 480 / H);
  const exitCx = left.x + 320 / (fit * 1.3) + left.width; // the left face just beyond the left edge
  const keys = [
    { t: 0, cx: W / 2, cy: H / 2, z: fit },
    { t: 0.2, cx: W / 2, cy: H / 2, z: fit * 1.3 },
    { t: 0.45, cx: exitCx, cy: H / 2, z: fit * 1.3 },
    { t: 0.55, cx: exitCx, cy: H / 2, z: fit * 1.3 },
    { t: 0.8, cx: W / 2, cy: H / 2, z: fit * 1.3 },
    { t: 1, cx: W / 2, cy: H / 2, z: fit },
  ];
  const frames: Frame[] = [];
  const views: Affine[] = [];
  for (let i = 0; i < frameCount; i++) {
    const t = i / (frameCount - 1);
    let k = 0;
    while (k < keys.length - 2 && keys[k + 1].t < t) k++;
    const a = keys[k];
    const b = keys[k + 1];
    const u = (t - a.t) / (b.t - a.t);
    const s = (1 - Math.cos(Math.PI * Math.min(1, Math.max(0, u)))) / 2; // ease in/out
    const cx = a.cx + (b.cx - a.cx) * s;
    const cy = a.cy + (b.cy - a.cy) * s;
    const z = a.z + (b.z - a.z) * s;
    const m: Affine = [1 / z, 0, cx - 320 / z, 0, 1 / z, cy - 240 / z];
    views.push(m);
    frames.push({ ...frameFromImage(warpAffine(half, m, 640, 480, { border: 'constant' }), { seq: i, sourceId: 'clip' }), timestamp: i * 33.3 });
  }
  return { frames, views, faces };
}

/**
 * Share of frames in which each visible face keeps its (majority) track id; a frame where a
 * visible face is missing counts as not kept. Returns the worst face and the mean.
 */
export function trackIdKept(clip: MovingClip, results: Face[][]): { minPct: number; meanPct: number; perFace: number[] } {
  const perFace = clip.faces.map((f, fi) => {
    const ids: number[] = [];
    let visible = 0;
    results.forEach((faces, i) => {
      const m = clip.views[i];
      // photo → output for this frame (inverse of the axis-aligned view)
      const z = 1 / m[0];
      const ox = (f.x - m[2]) * z;
      const oy = (f.y - m[5]) * z;
      const margin = (f.width * z) / 2;
      if (ox < margin || oy < margin || ox > 640 - margin || oy > 480 - margin) return;
      visible++;
      let best: Face | undefined;
      let bestD = Infinity;
      for (const face of faces) {
        const d = Math.hypot(face.box.x + face.box.width / 2 - ox, face.box.y + face.box.height / 2 - oy);
        if (d < bestD) {
          bestD = d;
          best = face;
        }
      }
      if (best && bestD < f.width * z * 0.6) ids.push(best.id);
      else ids.push(-1 - fi);
    });
    const counts = new Map<number, number>();
    for (const id of ids) if (id > 0) counts.set(id, (counts.get(id) ?? 0) + 1);
    const top = Math.max(0, ...counts.values());
    return visible ? (100 * top) / visible : 100;
  });
  return { minPct: Math.min(...perFace), meanPct: perFace.reduce((a, b) => a + b, 0) / perFace.length, perFace };
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Demo photo faces found (at most the true count per photo) and extra detections. */
async function photoRecall(detector: FaceDetector): Promise<{ found: string; extra: number }> {
  const photos = demoPhotoFrames();
  let found = 0;
  let extra = 0;
  for (let i = 0; i < photos.length; i++) {
    const n = (await detector.detect(photos[i])).length;
    found += Math.min(n, DEMO_FACE_COUNTS[i]);
    extra += Math.max(0, n - DEMO_FACE_COUNTS[i]);
  }
  return { found: `${found}/${DEMO_FACE_COUNTS.reduce((a, b) => a + b, 0)}`, extra };
}

/**
 * Runs the clip through a cropper `reps` times: wall time per frame and this process's CPU time
 * (all its threads; less sensitive to other processes competing for the two cores; both are reported).
 */
async function timeClip(detector: FaceDetector, clip: MovingClip, detectEvery: number, reps: number) {
  const cropper = await createFaceCropper({ detector, detectEvery });
  const times: number[] = [];
  const cpu: number[] = [];
  // Per-frame stage times from the pipeline itself (same frames, same moment as `times`).
  const stages: FacePipelineTimings[] = [];
  let faces: Face[][] = [];
  for (let r = 0; r < reps; r++) {
    cropper.reset();
    faces = [];
    for (const f of clip.frames) {
      const t0 = performance.now();
      const c0 = cpuMs();
      faces.push(await cropper.process(f));
      times.push(performance.now() - t0);
      cpu.push(cpuMs() - c0);
      stages.push(cropper.lastTimings);
    }
  }
  cropper.dispose();
  return { times, cpu, faces, stages };
}

/**
 * Median stage times of the detection frames, and the median of everything but the network
 * per frame (`outsideModel`: resize, decode, crops, tracking, Frame handling).
 */
function breakdown(stages: FacePipelineTimings[]): Record<string, number> {
  const det = stages.filter((s) => s.detected && s.detector);
  const pick = (f: (s: FacePipelineTimings) => number) => round(median(det.map(f)));
  return {
    prepare: pick((s) => s.detector!.prepare),
    model: pick((s) => s.detector!.model),
    decodeNms: pick((s) => s.detector!.decode),
    crop: pick((s) => s.crop),
    track: pick((s) => s.track),
    outsideModel: pick((s) => s.total - s.detector!.model),
  };
}

export const stage: BenchStage = {
  name: 'detect',
  title: 'BlazeFace detect + track + crop, 640x480, wasm, one core',
  async run(ctx) {
    if (!demoPhotoDir()) return { skipped: '@vladmandic/face-api (devDependency with the demo photos) is not installed' };
    const detector = await loadFaceDetector({ backend: 'wasm', logger: silentLogger });
    const out: Record<string, unknown> = {
      backend: detector.backend.label,
      executor: detector.executor,
      inputSize: detector.options.inputSize,
      minConfidence: detector.options.minConfidence,
    };
    try {
      ctx.progress('[detect] demo photos');
      const recall = await photoRecall(detector);
      out.photosFound = recall.found;
      out.photosExtraDetections = recall.extra;

      ctx.progress('[detect] testsrc');
      const ts = await testsrcFrames(ctx.quick ? 10 : 60);
      let fp = 0;
      for (const f of ts) fp += (await detector.detect(f)).length;
      out.testsrcFrames = ts.length;
      out.testsrcFalsePositives = fp;

      ctx.progress('[detect] building the moving clip');
      const clip = await movingClip(detector, 1, ctx.quick ? 40 : 150);
      const reps = ctx.quick ? 1 : 3;
      // The two modes alternate rep by rep, so a change in machine load (other processes on the
      // shared cores) hits both alike.
      ctx.progress('[detect] detect every frame / every 3 + tracking');
      const runs1: Array<Awaited<ReturnType<typeof timeClip>>> = [];
      const runs3: typeof runs1 = [];
      for (let r = 0; r < reps; r++) {
        runs1.push(await timeClip(detector, clip, 1, 1));
        runs3.push(await timeClip(detector, clip, 3, 1));
      }
      const joinRuns = (runs: typeof runs1) => ({
        times: runs.flatMap((x) => x.times),
        cpu: runs.flatMap((x) => x.cpu),
        stages: runs.flatMap((x) => x.stages),
        faces: runs[runs.length - 1].faces,
      });
      const every1 = joinRuns(runs1);
      const every3 = joinRuns(runs3);
      const detOnly: number[] = [];
      for (const f of clip.frames) {
        const t0 = performance.now();
        await detector.detect(f);
        detOnly.push(performance.now() - t0);
      }
      const k1 = trackIdKept(clip, every1.faces);
      const k3 = trackIdKept(clip, every3.faces);
      Object.assign(out, {
        p50Ms: round(median(every1.times)),
        p10Ms: round(percentile(every1.times, 10)),
        p50CpuMs: round(median(every1.cpu)),
        avgMsEvery1: round(mean(every1.times)),
        detectorOnlyP50Ms: round(median(detOnly)),
        breakdownP50Ms: breakdown(every1.stages),
        avgMsTracked: round(mean(every3.times)),
        avgCpuMsTracked: round(mean(every3.cpu)),
        // detect-every-3: the frames with and without the network, separately
        trackedFramesP50Ms: round(median(every3.times.filter((_, i) => !every3.stages[i].detected))),
        detectFramesP50Ms: round(median(every3.times.filter((_, i) => every3.stages[i].detected))),
        trackIdKeptPct: round(k1.minPct, 1),
        trackIdKeptPctTracked: round(k3.minPct, 1),
        clipFrames: clip.frames.length,
        clipFaces: clip.faces.length,
      });
      // Other detector sizes: the speed/recall trade-off (171 fits 640x480 into a 176x128 input,
      // 18 % fewer pixels than 192x144), with the same accuracy checks as size 192.
      const bySize: Record<string, unknown> = {};
      for (const inputSize of ctx.quick ? [] : [160, 171, 256]) {
        ctx.progress(`[detect] detector size ${inputSize}`);
        const d = await loadFaceDetector({ backend: 'wasm', logger: silentLogger, inputSize });
        try {
          const r = await photoRecall(d);
          let sizeFp = 0;
          for (const f of ts) sizeFp += (await d.detect(f)).length;
          const e1 = await timeClip(d, clip, 1, 1);
          const e3 = await timeClip(d, clip, 3, 1);
          bySize[inputSize] = {
            photosFound: r.found,
            photosExtra: r.extra,
            p50Ms: round(median(e1.times)),
            p10Ms: round(percentile(e1.times, 10)),
            p50CpuMs: round(median(e1.cpu)),
            avgMsTracked: round(mean(e3.times)),
            trackIdKeptPct: round(trackIdKept(clip, e1.faces).minPct, 1),
            trackIdKeptPctTracked: round(trackIdKept(clip, e3.faces).minPct, 1),
            testsrcFalsePositives: sizeFp,
          };
        } finally {
          d.dispose();
        }
      }
      out.bySize = bySize;
      out.load = (await import('os')).loadavg().map((x) => round(x, 2)).join(' ');
    } finally {
      detector.dispose();
    }
    return out;
  },
};
