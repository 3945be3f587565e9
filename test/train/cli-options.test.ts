/**
 * Bad command-line values of the training and evaluation CLIs: each is refused with a clear
 * message (no stack trace, no wasm crash) before any data is read or anything is trained or
 * written. Child processes on tiny synthetic data (no ../shared/datasets needed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../model/helpers';
import { runCli, writeTinyFer } from './fer-tiny';

const noStack = (r: { stderr: string }) => assert.doesNotMatch(r.stderr, /RuntimeError|memory access|TypeError|Cannot read properties|^ {4}at /m, r.stderr);

test('npm run train: --cv / --folds values and the options that need --cv are usage errors before the data is read', () => {
  const dir = tmpDir('cli-train-cv-');
  // A folder without class folders: an error about it would mean the data was read first.
  const run = (...extra: string[]) => runCli('train.ts', ['--data', dir, '--out', path.join(dir, 'x'), '--work', path.join(dir, 'w'), '--quiet', ...extra], 60000);
  const cases: Array<[string[], string]> = [
    [['--cv', '0'], 'train: --cv must be a whole number of folds >= 2, got 0'],
    [['--cv', '1'], 'train: --cv must be a whole number of folds >= 2, got 1'],
    [['--cv', '2.5'], 'train: --cv must be a whole number of folds >= 2, got 2.5'],
    [['--cv', '10', '--folds', '12'], 'train: --folds needs a comma-separated list of fold numbers 0..9 (--cv 10), got "12"'],
    [['--cv', '10', '--folds', '3,x'], 'train: --folds needs a comma-separated list of fold numbers 0..9 (--cv 10), got "x"'],
    [['--cv', '10', '--folds'], 'train: --folds needs a comma-separated list of fold numbers 0..9 (--cv 10)'],
    // Without --cv these were ignored: a full-data model was trained and written to --out.
    [['--add-tta'], 'train: --add-tta is for cross-validation: add --cv <k> (without it a full-data model is trained); see --help'],
    [['--folds', '3', '--results', dir], 'train: --folds and --results are for cross-validation: add --cv <k> (without it a full-data model is trained); see --help'],
    [['--cv', '10', '--selftest-only'], 'train: --selftest-only rewrites selftest.json of a full-data model (--out), not of a --cv run: drop --cv or --selftest-only'],
  ];
  for (const [extra, message] of cases) {
    const r = run(...extra);
    assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, `${message}\n`, extra.join(' '));
  }
  assert.ok(!fs.existsSync(path.join(dir, 'w')) && !fs.existsSync(path.join(dir, 'x')), 'nothing written');
});

test('npm run train:fer: --batch 0 or a fractional --epochs is refused before the data is read, not a wasm crash', () => {
  const dir = tmpDir('cli-train-fer-batch-');
  writeTinyFer(dir);
  const common = ['--variant', 'nano-b', '--data', dir, '--limit', '4', '--val-limit', '2', '--no-augment', '--quiet', '--work', path.join(dir, 'w'), '--out', path.join(dir, 'o'), '--backend', 'wasm'];
  for (const [extra, message] of [
    [['--batch', '0', '--epochs', '1'], 'train-fer: --batch must be an integer >= 1, got 0'],
    [['--batch', '4', '--epochs', '1.5'], 'train-fer: --epochs must be an integer >= 1, got 1.5'],
  ] as const) {
    const r = runCli('train-fer.ts', [...common, ...extra], 60000);
    assert.equal(r.status, 1, r.stderr);
    noStack(r);
    assert.equal(r.stderr, `${message}\n`);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'w')) && !fs.existsSync(path.join(dir, 'o')), 'nothing written');
});

test('npm run fer:teacher: a --batch that is not a whole number >= 1 is a usage error, not a TypeError half-way', () => {
  const dir = tmpDir('cli-fer-teacher-batch-');
  writeTinyFer(dir);
  for (const b of ['0', '2.5', '-1']) {
    const r = runCli('fer-teacher.ts', ['--models', 'nano-b-wild', '--data', dir, '--out', path.join(dir, `t${b}`), '--limit', '4', '--batch', b, '--backend', 'wasm'], 60000);
    assert.equal(r.status, 1, r.stderr);
    noStack(r);
    assert.equal(r.stderr, `fer-teacher: --batch must be a whole number >= 1, got "${b}"; see --help\n`);
    assert.ok(!fs.existsSync(path.join(dir, `t${b}`)), 'no teacher written');
  }
});

test('npm run eval:fer: a bad --batch or --ck-framing is a usage error before the model runs (not after the FER sets, not ignored without CK+)', () => {
  const dir = tmpDir('cli-eval-fer-');
  writeTinyFer(dir);
  const run = (...extra: string[]) => runCli('eval-fer.ts', ['--model', 'nano-b-wild', '--data', dir, '--ck', path.join(dir, 'no-ck-plus'), '--backend', 'wasm', ...extra], 60000);
  const batch = run('--batch', 'abc');
  assert.equal(batch.status, 2, batch.stderr);
  assert.equal(batch.stderr, 'eval-fer: --batch must be a whole number >= 1, got "abc"; see --help\n');
  const framing = run('--ck-framing', 'bogus');
  assert.equal(framing.status, 2, framing.stderr);
  assert.equal(framing.stderr, 'eval-fer: --ck-framing: unknown crop framing "bogus" (known: ck48, fer2013)\n');
  // The valid values still run (CK+ absent: skipped).
  const ok = run('--batch', '3', '--ck-framing', 'fer2013', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(
    (JSON.parse(ok.stdout) as { sets: Array<{ set: string }> }).sets.map((s) => s.set),
    ['ferplus-publictest', 'ferplus-publictest-reference-majority', 'fer2013-publictest', 'fer2013-publictest-ferplus-agrees', 'fer2013-publictest-ferplus-disagrees'],
  );
});

test('npm run eval: --framing without --detect is a usage error (it was silently ignored)', () => {
  const dir = tmpDir('cli-eval-framing-');
  const r = runCli('eval.ts', ['--data', dir, '--framing', 'fer2013'], 60000);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'eval: --framing is the crop framing of --detect: add --detect (or drop --framing)\n');
});

test('npm run eval: --batch must be a whole number, as for eval:fer (2.5 was accepted)', () => {
  const dir = tmpDir('cli-eval-batch-');
  const r = runCli('eval.ts', ['--data', dir, '--batch', '2.5'], 60000);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'eval: --batch must be a whole number >= 1, got "2.5"; see --help\n');
});

test('the CK+ model-card report refuses a mistyped option instead of printing where --write was meant', () => {
  const r = runCli('report.ts', ['--wirte'], 60000);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'report: Unknown option --wirte (did you mean --write?); see --help\n');
  assert.equal(r.stdout, '');
  const help = runCli('report.ts', ['--help'], 60000);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: src\/cli\/report\.ts \[--write\]\nRun it through tsx from the project root: node --import tsx src\/cli\/report\.ts \[--write\]\n/);
});
