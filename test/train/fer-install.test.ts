/**
 * `npm run fer:install`: a trained export becomes a shipped model only after its checks pass
 * (folded, self-test reproduced through load(), same variant and classes), with the replaced
 * model's results archived and nothing half-written on failure. Random models in temp dirs.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load } from '../../src/model';
import { readModelDir } from '../../src/model/io';
import { selfTestOf } from '../../src/model/selftest';
import { variantSpec, withWidth } from '../../src/model/spec';
import { FerInstallError, installFerExport } from '../../src/train/fer-install';
import { randomTrainWeights, tmpDir, writeRandomModel } from '../model/helpers';
import { evaluateFerReport, FerReport } from '../../src/cli/eval-fer';
import { INSTALL_EVAL_REPORTS } from '../../src/cli/fer-install';
import { writeTinyFer } from './fer-tiny';

const ROOT = path.resolve(__dirname, '../..');
const CLASSES8 = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'];
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

/** An export as train:fer writes it: folded weights, results.json, and the self-test of its training-form weights. */
async function writeExport(dir: string, { variant = 'nano-b', classes = CLASSES8, seed = 7, selfTestSeed = seed, width = 1 } = {}): Promise<string> {
  const spec = withWidth(variantSpec(variant), width);
  await writeRandomModel(dir, variant, classes, seed, spec);
  const st = await selfTestOf(spec, classes, randomTrainWeights(variant, classes.length, selfTestSeed, spec));
  fs.writeFileSync(path.join(dir, 'selftest.json'), JSON.stringify(st));
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ model: path.basename(dir), variant, seed }));
  return dir;
}

const expectCode = (code: FerInstallError['code']) => (e: unknown) => e instanceof FerInstallError && e.code === code;

test('installs an export under the shipped name; load() gives the self-test; the source is recorded', async () => {
  const work = tmpDir();
  const models = path.join(work, 'models');
  const from = await writeExport(path.join(work, 'exp', 'nano-b-fitkd-x'));
  const r = await installFerExport({ from, as: 'nano-b-wild', modelsRoot: models, now: () => new Date('2026-11-28T00:00:00Z') });
  assert.equal(r.replaced, false);
  assert.equal(r.originalName, 'nano-b-fitkd-x');
  assert.ok(r.selfTestMaxDiff < 1e-4);
  const dir = path.join(models, 'nano-b-wild');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['model.json', 'results.json', 'selftest.json', 'weights.bin']);
  assert.equal(readModelDir(dir).json.name, 'nano-b-wild');
  const res = readJson(path.join(dir, 'results.json'));
  assert.equal(res.model, 'nano-b-wild');
  assert.equal(res.seed, 7, 'the rest of results.json is kept');
  assert.deepEqual(res.installedFrom, { dir: 'exp/nano-b-fitkd-x', name: 'nano-b-fitkd-x', at: '2026-11-28T00:00:00.000Z' });
  assert.deepEqual(fs.readdirSync(models), ['nano-b-wild'], 'no temp directory is left behind');
  const clf = await load({ model: dir, logger: silentLogger });
  assert.equal(clf.name, 'nano-b-wild');
  clf.dispose();
});

test('replacing archives the old results with the note and drops its eval reports', async () => {
  const work = tmpDir();
  const models = path.join(work, 'models');
  await installFerExport({ from: await writeExport(path.join(work, 'old'), { seed: 3 }), as: 'nano-b-wild', modelsRoot: models });
  fs.writeFileSync(path.join(models, 'nano-b-wild', 'eval-fer.json'), '{}');
  const oldWeights = fs.readFileSync(path.join(models, 'nano-b-wild', 'weights.bin'));
  const from = await writeExport(path.join(work, 'new'), { seed: 5 });

  await assert.rejects(installFerExport({ from, as: 'nano-b-wild', modelsRoot: models }), expectCode('ARCHIVE_REQUIRED'));
  await assert.rejects(installFerExport({ from, as: 'nano-b-wild', modelsRoot: models, archive: 'nano-b-wild-old' }), expectCode('ARCHIVE_REQUIRED'), 'a note is required');
  assert.deepEqual(fs.readFileSync(path.join(models, 'nano-b-wild', 'weights.bin')), oldWeights, 'refused: the old model is untouched');

  const dry = await installFerExport({ from, as: 'nano-b-wild', modelsRoot: models, archive: 'nano-b-wild-old', note: 'beaten by seed 5', dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.deepEqual(dry.dropped, ['eval-fer.json']);
  assert.deepEqual(fs.readFileSync(path.join(models, 'nano-b-wild', 'weights.bin')), oldWeights, 'a dry run writes nothing');
  assert.equal(fs.existsSync(path.join(models, 'fer-experiments')), false);

  const r = await installFerExport({ from, as: 'nano-b-wild', modelsRoot: models, archive: 'nano-b-wild-old', note: 'beaten by seed 5' });
  assert.equal(r.replaced, true);
  assert.deepEqual(r.dropped, ['eval-fer.json']);
  assert.deepEqual(fs.readFileSync(path.join(models, 'nano-b-wild', 'weights.bin')), fs.readFileSync(path.join(from, 'weights.bin')));
  assert.equal(fs.existsSync(path.join(models, 'nano-b-wild', 'eval-fer.json')), false, 'eval reports of the old weights are not carried over');
  const archived = readJson(path.join(models, 'fer-experiments', 'nano-b-wild-old', 'results.json'));
  assert.equal(archived.seed, 3, 'the archive holds the replaced model\'s results');
  assert.equal(archived.note, 'beaten by seed 5');
  assert.equal(archived.replacedBy, 'new');
  assert.deepEqual(fs.readdirSync(models).sort(), ['fer-experiments', 'nano-b-wild']);

  await assert.rejects(
    installFerExport({ from: await writeExport(path.join(work, 'newer'), { seed: 9 }), as: 'nano-b-wild', modelsRoot: models, archive: 'nano-b-wild-old', note: 'x' }),
    expectCode('ARCHIVE_EXISTS'),
  );
  const r2 = await installFerExport({ from: path.join(work, 'newer'), as: 'nano-b-wild', modelsRoot: models, noArchive: true });
  assert.equal(r2.archivedTo, undefined);
  assert.equal(readJson(path.join(models, 'nano-b-wild', 'results.json')).seed, 9);
});

test('refuses what must not be shipped, and writes nothing', async () => {
  const work = tmpDir();
  const models = path.join(work, 'models');
  await installFerExport({ from: await writeExport(path.join(work, 'b8')), as: 'nano-b-wild', modelsRoot: models });
  const before = fs.readFileSync(path.join(models, 'nano-b-wild', 'weights.bin'));

  // Weights that are not the ones the self-test was written for.
  await assert.rejects(installFerExport({ from: await writeExport(path.join(work, 'stale'), { selfTestSeed: 8 }), as: 'other', modelsRoot: models }), expectCode('SELFTEST_MISMATCH'));
  // Another variant / another head in place of the shipped model.
  await assert.rejects(installFerExport({ from: await writeExport(path.join(work, 'a8'), { variant: 'nano-a' }), as: 'nano-b-wild', modelsRoot: models, noArchive: true }), expectCode('INCOMPATIBLE'));
  await assert.rejects(
    installFerExport({ from: await writeExport(path.join(work, 'b8w'), { width: 1.5 }), as: 'nano-b-wild', modelsRoot: models, noArchive: true }),
    (e: unknown) => expectCode('INCOMPATIBLE')(e) && /is EmotionNet Nano-B; .* is EmotionNet Nano-B \(width x1\.5\) \(another architecture/.test((e as Error).message),
    'a wider network of the same variant (a teacher) does not replace a shipped model',
  );
  await assert.rejects(
    installFerExport({ from: await writeExport(path.join(work, 'b7'), { classes: CLASSES8.filter((c) => c !== 'contempt') }), as: 'nano-b-wild', modelsRoot: models, noArchive: true }),
    expectCode('INCOMPATIBLE'),
  );
  // A directory that is not a model is never overwritten.
  fs.mkdirSync(path.join(models, 'notes'));
  fs.writeFileSync(path.join(models, 'notes', 'todo.txt'), 'x');
  await assert.rejects(installFerExport({ from: path.join(work, 'b8'), as: 'notes', modelsRoot: models }), expectCode('INCOMPATIBLE'));
  fs.rmSync(path.join(models, 'notes'), { recursive: true });
  // Not an export: no self-test; a training checkpoint (folded: false); a bad name; itself.
  const noSt = await writeExport(path.join(work, 'nost'));
  fs.rmSync(path.join(noSt, 'selftest.json'));
  await assert.rejects(installFerExport({ from: noSt, as: 'x', modelsRoot: models }), expectCode('NOT_AN_EXPORT'));
  const ckpt = await writeExport(path.join(work, 'ckpt'));
  const mj = readJson(path.join(ckpt, 'model.json'));
  fs.writeFileSync(path.join(ckpt, 'model.json'), JSON.stringify({ ...mj, folded: false }));
  await assert.rejects(installFerExport({ from: ckpt, as: 'x', modelsRoot: models }), expectCode('NOT_AN_EXPORT'));
  await assert.rejects(installFerExport({ from: noSt, as: '../escape', modelsRoot: models }), expectCode('BAD_NAME'));
  const far = await writeExport(path.join(work, 'far'));
  fs.renameSync(path.join(far, 'weights.bin'), path.join(work, 'weights.bin'));
  const fj = readJson(path.join(far, 'model.json')) as { weightsManifest: Array<{ paths: string[] }> };
  fj.weightsManifest[0].paths = ['../weights.bin'];
  fs.writeFileSync(path.join(far, 'model.json'), JSON.stringify(fj));
  await assert.rejects(installFerExport({ from: far, as: 'x', modelsRoot: models }), expectCode('NOT_AN_EXPORT'), 'weights outside the export directory');
  await assert.rejects(installFerExport({ from: path.join(models, 'nano-b-wild'), as: 'nano-b-wild', modelsRoot: models }), expectCode('SAME_DIRECTORY'));

  assert.deepEqual(fs.readFileSync(path.join(models, 'nano-b-wild', 'weights.bin')), before);
  assert.deepEqual(fs.readdirSync(models), ['nano-b-wild'], 'nothing else was written');
});

test('npm run fer:install: installs, prints the eval commands; a refusal exits 1 with the reason', async () => {
  const work = tmpDir();
  const models = path.join(work, 'models');
  const from = await writeExport(path.join(work, 'exp'));
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/fer-install.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120000 });
  const ok = run(['--from', from, '--as', 'nano-b-wild', '--models', models, '--backend', 'wasm']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /Installed .* as .*nano-b-wild; self-test reproduced/);
  assert.match(ok.stderr, /npm run eval:fer -- --model nano-b-wild --tta flip --out models\/nano-b-wild\/eval-fer-flip\.json/);
  const again = run(['--from', from, '--as', 'nano-b-wild', '--models', models, '--backend', 'wasm']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /^fer-install: models\/nano-b-wild is replaced: say where its results\.json goes/m);
  const both = run(['--from', from, '--as', 'nano-b-wild', '--models', models, '--archive', 'old', '--note', 'x', '--no-archive']);
  assert.equal(both.status, 1);
  assert.match(both.stderr, /--archive and --no-archive contradict each other/);
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: npm run fer:install/);
});

test('npm run fer:install --eval: writes the plain and mirrored eval:fer reports of the installed weights; a missing dataset is refused before installing', async () => {
  const work = tmpDir();
  const models = path.join(work, 'models');
  const data = path.join(work, 'fer2013');
  writeTinyFer(data);
  const from = await writeExport(path.join(work, 'exp'));
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/fer-install.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180000 });

  const noData = run(['--from', from, '--as', 'nano-b-wild', '--models', models, '--eval', '--data', path.join(work, 'absent')]);
  assert.equal(noData.status, 1);
  assert.match(noData.stderr, /--eval needs the fer2013 dataset \(no manifest\.csv in .*absent\)/);
  assert.equal(fs.existsSync(models), false, 'nothing installed when the evaluation cannot run');
  const stray = run(['--from', from, '--as', 'nano-b-wild', '--models', models, '--data', data]);
  assert.equal(stray.status, 1);
  assert.match(stray.stderr, /--data and --ck are for --eval/);

  const ok = run(['--from', from, '--as', 'nano-b-wild', '--models', models, '--backend', 'wasm', '--eval', '--data', data]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /npm run eval:fer/, 'no eval command left to run');
  assert.match(ok.stderr, /Wrote .*eval-fer\.json, .*eval-fer-flip\.json\nNext:\n {2}npm run fer:report -- --write/);
  const dir = path.join(models, 'nano-b-wild');
  for (const { tta, file } of INSTALL_EVAL_REPORTS) {
    const got = readJson(path.join(dir, file)) as unknown as FerReport;
    assert.equal(got.model, 'nano-b-wild');
    assert.equal(got.tta, tta);
    const want = await evaluateFerReport({ model: dir, data, ckFraming: 'fer2013', backend: 'wasm', tta });
    assert.deepEqual(
      got.sets.map((s) => [s.set, s.images, s.accuracy, s.confusion]),
      want.sets.map((s) => [s.set, s.images, s.accuracy, s.confusion]),
      `${file} is the eval:fer report of the installed weights`,
    );
    assert.ok(got.sets.some((s) => s.set === 'fer2013-publictest' && s.images === 2));
  }
});
