/**
 * Shipped in-the-wild weights (issue 6): each registered `*-wild` model that is present in
 * models/ loads by name, has the FER+ (8) or FER2013 (7) classes, stays within the parameter
 * budget, and reproduces its selftest.json (outputs of the unfolded training graph) through
 * load(). Skips models that are not trained yet.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/backend';
import { silentLogger } from '../../src/log';
import { load, modelsDir, readModelDir } from '../../src/model';
import { selfTestInputs } from '../../src/model/selftest';
import { FER2013_CLASSES, FERPLUS_CLASSES } from '../../src/train/fer';

const WILD: Record<string, string[]> = {
  'nano-a-wild': FERPLUS_CLASSES,
  'nano-b-wild': FERPLUS_CLASSES,
  'nano-a-wild-7': FER2013_CLASSES,
  'nano-b-wild-7': FER2013_CLASSES,
};

before(async () => {
  await selectBackend({ backend: 'wasm', logger: silentLogger });
});

for (const [name, classes] of Object.entries(WILD)) {
  test(`shipped ${name}: loads by name, ≤ 250 k parameters, reproduces selftest.json`, async (t) => {
    const dir = path.join(modelsDir() ?? '', name);
    if (!fs.existsSync(path.join(dir, 'model.json'))) {
      t.skip(`models/${name} is not trained yet (see models/README.md, "In-the-wild models")`);
      return;
    }
    const { json } = readModelDir(dir);
    assert.equal(json.folded, true);
    assert.deepEqual(json.classes, classes);
    const stFile = path.join(dir, 'selftest.json');
    assert.ok(fs.existsSync(stFile), `${stFile} missing (npm run train:fer -- --selftest-only writes it)`);
    const st = JSON.parse(fs.readFileSync(stFile, 'utf8')) as { probabilities: number[][]; classes: string[] };
    assert.deepEqual(st.classes, classes);
    const before = tf.memory().numTensors;
    const clf = await load({ model: name, logger: silentLogger });
    try {
      assert.equal(clf.name, name);
      assert.ok(clf.cost.params <= 250000, `${clf.cost.params} parameters`);
      const res = await clf.classify(selfTestInputs().map((data) => ({ width: 48, height: 48, data })));
      res.forEach((r, i) => classes.forEach((c, j) => assert.ok(Math.abs(r.probabilities[c] - st.probabilities[i][j]) < 1e-4, `${name} input ${i} ${c}: ${r.probabilities[c]} vs ${st.probabilities[i][j]}`)));
    } finally {
      clf.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });
}
