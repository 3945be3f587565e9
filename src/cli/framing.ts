#!/usr/bin/env node
/**
 * `node dist/src/cli/framing.js --data <folder of face crops> [--limit 2000] [--json]`
 *
 * Measures how faces are framed in a set of square face crops (e.g. a training set), so the
 * live crop (src/face `cropFace`, `framing` option) can be made to match it. Each crop is
 * upscaled (nearest, x`--upscale`), centred on a mid-gray canvas three times its size (so the
 * detector sees the whole face, also when the crop cuts the chin), and run through our
 * BlazeFace detector; keypoints are mapped back to crop pixels (continuous coordinates,
 * pixel i spans [i, i+1)).
 *
 * Reports mean ± std and percentiles of eye positions, inter-ocular distance (IOD), eye-line
 * roll angle, mouth and box, and the CropFraming (fractions of the crop side) that reproduces
 * the mean framing. The folder is searched recursively for PNG/JPEG/TIFF files; --limit takes
 * an evenly strided sample.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadFaceDetector } from '../face';
import { silentLogger } from '../log';
import { readGrayImage } from '../train/data';
import { CliSpec, num, parseCli, runMain } from './args';

export interface FramingStats {
  images: number;
  detected: number;
  cropSize: number;
  /** mean, std and 5/50/95th percentiles per measured quantity (crop pixels; degrees for roll). */
  stats: Record<string, { mean: number; std: number; p5: number; p50: number; p95: number }>;
  /** The CropFraming that puts the eyes and mouth at their mean positions. */
  framing: { eyeY: number; eyeDistance: number; centerX: number; mouthY: number };
}

function listImages(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) listImages(p, out);
    else if (/\.(png|jpe?g|tiff?)$/i.test(e.name)) out.push(p);
  }
  return out;
}

function summary(xs: number[]): { mean: number; std: number; p5: number; p50: number; p95: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  const s = [...xs].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(n - 1, Math.max(0, Math.round(f * (n - 1))))];
  const r = (v: number) => Math.round(v * 100) / 100;
  return { mean: r(mean), std: r(std), p5: r(q(0.05)), p50: r(q(0.5)), p95: r(q(0.95)) };
}

/** Measures the framing of `files` (square gray crops of side `size`). */
export async function measureFraming(files: string[], options: { size?: number; upscale?: number; backend?: string; minConfidence?: number } = {}): Promise<FramingStats> {
  const size = options.size ?? 48;
  const S = options.upscale ?? 4;
  const pad = size * S;
  const W = size * S + 2 * pad;
  const det = await loadFaceDetector({ backend: options.backend ?? 'wasm', minConfidence: options.minConfidence ?? 0.3, logger: silentLogger });
  const cols: Record<string, number[]> = {};
  const push = (k: string, v: number) => (cols[k] ??= []).push(v);
  let detected = 0;
  try {
    const canvas = new Uint8Array(W * W * 3);
    for (const f of files) {
      const g = readGrayImage(f, size);
      canvas.fill(128);
      for (let y = 0; y < size * S; y++) {
        for (let x = 0; x < size * S; x++) {
          const v = g[Math.floor(y / S) * size + Math.floor(x / S)];
          const o = ((y + pad) * W + x + pad) * 3;
          canvas[o] = canvas[o + 1] = canvas[o + 2] = v;
        }
      }
      const d = det.detectImage({ width: W, height: W, channels: 3, data: canvas });
      if (!d.length) continue;
      detected++;
      const best = d.reduce((a, b) => (b.score > a.score ? b : a));
      const k = best.keypoints;
      const t = (p: { x: number; y: number }) => ({ x: (p.x - pad) / S, y: (p.y - pad) / S });
      const re = t(k.rightEye);
      const le = t(k.leftEye);
      const mo = t(k.mouth);
      const no = t(k.nose);
      push('rightEye.x', re.x);
      push('rightEye.y', re.y);
      push('leftEye.x', le.x);
      push('leftEye.y', le.y);
      push('eyeMid.x', (re.x + le.x) / 2);
      push('eyeMid.y', (re.y + le.y) / 2);
      push('iod', Math.hypot(le.x - re.x, le.y - re.y));
      push('rollDeg', (Math.atan2(le.y - re.y, le.x - re.x) * 180) / Math.PI);
      push('nose.x', no.x);
      push('nose.y', no.y);
      push('mouth.x', mo.x);
      push('mouth.y', mo.y);
      push('eyeToMouth', Math.hypot(mo.x - (re.x + le.x) / 2, mo.y - (re.y + le.y) / 2));
      push('box.x', (best.box.x - pad) / S);
      push('box.y', (best.box.y - pad) / S);
      push('box.size', best.box.width / S);
    }
  } finally {
    det.dispose();
  }
  if (detected === 0) throw new Error('No face found in any crop');
  const stats = Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, summary(v)]));
  const mean = (k: string) => cols[k].reduce((a, b) => a + b, 0) / cols[k].length;
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    images: files.length,
    detected,
    cropSize: size,
    stats,
    framing: { eyeY: r3(mean('eyeMid.y') / size), eyeDistance: r3(mean('iod') / size), centerX: r3(mean('eyeMid.x') / size), mouthY: r3(mean('mouth.y') / size) },
  };
}

/** The command line of the framing CLI (every `--name` of `usage` is an accepted option). */
export const FRAMING_CLI: CliSpec = {
  usage: 'Usage: node dist/src/cli/framing.js --data <folder of square face crops> [--limit 2000] [--size 48] [--upscale 4] [--backend wasm] [--json]\n',
};

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), FRAMING_CLI);
  if (!args) return;
  if (!args.data) {
    process.stdout.write(FRAMING_CLI.usage);
    process.exitCode = 2;
    return;
  }
  let files = listImages(path.resolve(String(args.data)));
  const limit = num(args, 'limit', files.length);
  if (files.length > limit) files = Array.from({ length: limit }, (_, i) => files[Math.floor((i * files.length) / limit)]);
  const r = await measureFraming(files, { size: num(args, 'size', 48), upscale: num(args, 'upscale', 4), backend: args.backend ? String(args.backend) : undefined });
  if (args.json) process.stdout.write(JSON.stringify({ data: String(args.data), ...r }, null, 1) + '\n');
  else {
    process.stdout.write(`${r.detected}/${r.images} crops with a face (crop ${r.cropSize} px)\n`);
    for (const [k, s] of Object.entries(r.stats)) process.stdout.write(`${k.padEnd(12)} ${s.mean.toFixed(2).padStart(7)} ± ${s.std.toFixed(2).padEnd(6)} p5 ${s.p5.toFixed(2).padStart(7)}  p50 ${s.p50.toFixed(2).padStart(7)}  p95 ${s.p95.toFixed(2).padStart(7)}\n`);
    process.stdout.write(`CropFraming: ${JSON.stringify(r.framing)}\n`);
  }
}

if (require.main === module) runMain('framing', main, undefined, { usageExitCode: 2 });
