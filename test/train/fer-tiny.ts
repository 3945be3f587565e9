/**
 * A tiny fer2013-shaped folder for CLI tests (no ../shared/datasets needed): 6 Training images
 * (one without FER+ votes) + 2 PublicTest, random pixels, the dataset's CSV files.
 */
import assert from 'node:assert/strict';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { mulberry32 } from '../../src/model/graph';
import { encodeJpeg } from '../../src/image';

export function writeTinyFer(dir: string): void {
  const rand = mulberry32(3);
  const man = ['path,label,split'];
  const map = ['path,usage,ferplus_image,ferplus_rows,match'];
  const ferp = ['Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF'];
  const add = (split: string, cls: string, i: number, votes: number[] | null) => {
    const folder = split === 'Training' ? 'train' : 'publictest';
    const rel = `${folder}/${cls}/${split}_${i}.jpg`;
    fs.mkdirSync(path.join(dir, folder, cls), { recursive: true });
    const px = new Uint8Array(48 * 48).map(() => Math.floor(rand() * 256));
    fs.writeFileSync(path.join(dir, rel), encodeJpeg({ width: 48, height: 48, data: px }, { quality: 90 }));
    man.push(`${rel},${cls},${split}`);
    if (!votes) map.push(`${rel},${split},,,none`);
    else {
      ferp.push(`${split},fer${i}.png,${votes.join(',')}`);
      map.push(`${rel},${split},fer${i}.png,${ferp.length - 2},unique`);
    }
  };
  for (let i = 0; i < 6; i++) add('Training', i % 2 ? 'sad' : 'happy', i, i === 3 ? null : i % 2 ? [3, 0, 0, 7, 0, 0, 0, 0, 0, 0] : [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
  for (let i = 0; i < 2; i++) add('PublicTest', i % 2 ? 'sad' : 'happy', 100 + i, [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
  fs.writeFileSync(path.join(dir, 'manifest.csv'), man.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'ferplus_map.csv'), map.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'fer2013new.csv'), ferp.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'duplicates.csv'), 'path,label,split,md5\n');
}

const ROOT = path.resolve(__dirname, '../..');

/** Runs `src/cli/<script>` through tsx from the project root (a child process, like `npm run`). */
export function runCli(script: string, args: string[], timeoutMs = 180000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli', script), ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
}

/** Element-wise |a − b| ≤ tol, naming the first element that is not. */
export function assertClose(a: ArrayLike<number>, b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}
