/**
 * The mirror-averaging (tta: 'flip') figures users read in the classifier node's help (the claim
 * and each model's figures), its tip and the README are copies of measurements: they must agree with the shipped models' eval
 * reports (`models/<model>/eval-fer.json` and `eval-fer-flip.json`, written by `eval:fer`), so a
 * newly shipped model whose gain differs fails here until the text is updated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');
const flat = (s: string) => s.replace(/\s+/g, ' ');

/** Each shipped in-the-wild model and the set its head is judged on. */
const WILD: Array<[model: string, set: string]> = [
  ['nano-a-wild', 'ferplus-publictest'],
  ['nano-b-wild', 'ferplus-publictest'],
  ['nano-a-wild-7', 'fer2013-publictest'],
  ['nano-b-wild-7', 'fer2013-publictest'],
];

interface Report { tta?: string; sets: Array<{ set: string; accuracy: number }> }

function accuracies(model: string): { plain: number; flip: number } | null {
  const f = (name: string) => path.join(ROOT, 'models', model, name);
  if (!fs.existsSync(f('eval-fer.json')) || !fs.existsSync(f('eval-fer-flip.json'))) return null;
  const set = WILD.find(([m]) => m === model)![1];
  const acc = (file: string, tta: string) => {
    const r = JSON.parse(fs.readFileSync(f(file), 'utf8')) as Report;
    assert.equal(r.tta ?? 'none', tta, `${model}/${file} is a report of tta ${tta}`);
    const s = r.sets.find((x) => x.set === set);
    assert.ok(s, `${model}/${file} has the ${set} row`);
    return 100 * s.accuracy;
  };
  return { plain: acc('eval-fer.json', 'none'), flip: acc('eval-fer-flip.json', 'flip') };
}

const claimIn = (text: string, where: string) => {
  const m = /at most about \+?(\d+(?:\.\d+)?) points/.exec(flat(text));
  assert.ok(m, `${where} states the mirror-averaging gain ("at most about +X points")`);
  return Number(m[1]);
};

test('the stated mirror-averaging gain matches the shipped models\' eval reports', (t) => {
  const measured = measuredModels(t);
  if (measured.length === 0) return;
  const gains = measured.map(([m, a]) => [m, a.flip - a.plain] as const);
  const maxGain = Math.max(...gains.map(([, g]) => g));
  const claims = {
    'classify help (emotionnet-classify.html)': claimIn(read('nodes/emotionnet-classify/locales/en-US/emotionnet-classify.html'), 'the help'),
    'classify tip (emotionnet-classify.json)': claimIn(read('nodes/emotionnet-classify/locales/en-US/emotionnet-classify.json'), 'the tip'),
    'README options table': claimIn(read('README.md').split('\n').find((l) => l.startsWith('| Mirror averaging')) ?? '', 'the README options table'),
  };
  const values = Object.values(claims);
  assert.ok(values.every((v) => v === values[0]), `every copy states the same gain: ${JSON.stringify(claims)}`);
  const gainsText = gains.map(([m, g]) => `${m} ${g >= 0 ? '+' : ''}${g.toFixed(2)}`).join(', ');
  // "at most about +X" (one decimal): the best measured gain rounds to at most X, and X is not an
  // overstatement (within 0.1 of it).
  assert.ok(maxGain <= values[0] + 0.05, `the text says at most about +${values[0]} points, but a shipped model gains more: ${gainsText}`);
  assert.ok(values[0] <= Math.max(0, maxGain) + 0.1, `the text says about +${values[0]} points; the shipped models gain ${gainsText}`);
});

/** The shipped models that have both eval reports, with their accuracies; skips the test when there are none. */
function measuredModels(t: { skip(msg: string): void }): Array<[string, { plain: number; flip: number }]> {
  const out = WILD.map(([m]) => [m, accuracies(m)] as const).filter((e): e is [string, { plain: number; flip: number }] => e[1] !== null);
  if (out.length === 0) t.skip('no shipped in-the-wild model has both eval reports');
  return out;
}

test('the classify help quotes each shipped model\'s plain and mirrored accuracy as measured (one decimal)', (t) => {
  const help = flat(read('nodes/emotionnet-classify/locales/en-US/emotionnet-classify.html'));
  for (const [model, a] of measuredModels(t)) {
    const m = new RegExp(`<code>${model}</code>[^<]*?(\\d+\\.\\d) % → (\\d+\\.\\d) %`).exec(help);
    assert.ok(m, `the classify help quotes ${model}'s mirror averaging ("<code>${model}</code> … X % → Y %")`);
    assert.deepEqual([m[1], m[2]], [a.plain.toFixed(1), a.flip.toFixed(1)], `the classify help quotes ${model} as measured (models/${model}/eval-fer*.json)`);
  }
});

test('the README quotes each shipped model\'s plain and mirrored accuracy as measured', (t) => {
  const readme = flat(read('README.md'));
  for (const [model, a] of measuredModels(t)) {
    const [p, f] = [a.plain.toFixed(2), a.flip.toFixed(2)];
    const quoted = [`${p} % → ${f} %`, `${p} → ${f} %`, `${p} % to ${f} %`].some((s) => readme.includes(s));
    assert.ok(quoted, `README.md quotes ${model}'s mirror averaging as measured (${p} → ${f} %, from models/${model}/eval-fer*.json)`);
  }
});
