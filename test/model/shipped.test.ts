import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { countCost, load, modelsDir, readModelDir, variantSpec } from '../../src/model';
import { selfTestInputs } from '../../src/model/selftest';

const EXPECTED: Record<string, { classes: string[]; variant: string }> = {
  'nano-a': { variant: 'nano-a', classes: ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'] },
  'nano-b': { variant: 'nano-b', classes: ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'] },
  'nano-a-8': { variant: 'nano-a', classes: ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'] },
  'nano-b-8': { variant: 'nano-b', classes: ['anger', 'contempt', 'disgust', 'fear', 'happy', 'neutral', 'sadness', 'surprise'] },
};

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

for (const [name, exp] of Object.entries(EXPECTED)) {
  test(`shipped ${name}: loads by name and reproduces its reference outputs on fixed inputs`, async (t) => {
    const dir = path.join(modelsDir() ?? '', name);
    if (!fs.existsSync(path.join(dir, 'model.json'))) {
      t.skip(`models/${name} is not trained yet (see models/README.md, "Reproduce and resume")`);
      return;
    }
    const { json } = readModelDir(dir);
    assert.equal(json.folded, true);
    assert.deepEqual(json.classes, exp.classes);
    assert.deepEqual(json.spec, variantSpec(exp.variant), 'architecture matches the variant definition');
    const st = JSON.parse(fs.readFileSync(path.join(dir, 'selftest.json'), 'utf8')) as { probabilities: number[][]; classes: string[] };
    assert.deepEqual(st.classes, exp.classes);
    const before = tf.memory().numTensors;
    const clf = await load({ model: name, logger: silentLogger });
    assert.equal(clf.name, name);
    assert.deepEqual(clf.cost, countCost(variantSpec(exp.variant), exp.classes.length));
    const res = await clf.classify(selfTestInputs().map((data) => ({ width: 48, height: 48, data })));
    res.forEach((r, i) => {
      exp.classes.forEach((c, j) => assert.ok(Math.abs(r.probabilities[c] - st.probabilities[i][j]) < 1e-4, `${name} input ${i} ${c}: ${r.probabilities[c]} vs ${st.probabilities[i][j]}`));
    });
    clf.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
}
