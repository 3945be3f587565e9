import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { writeCvSummary } from '../../src/cli/train';
import { tmpDir } from '../model/helpers';

test('CV summary: mean ± sample std over the finished folds, pooled confusion, partial runs flagged', () => {
  const dir = tmpDir();
  const classes = ['happy', 'sadness'];
  const folds = [
    { fold: 0, accuracy: 0.9, confusion: [[5, 0], [1, 4]] },
    { fold: 2, accuracy: 0.7, confusion: [[3, 2], [1, 4]] },
  ];
  for (const f of folds) {
    fs.writeFileSync(
      path.join(dir, `fold-${f.fold}.json`),
      JSON.stringify({ ...f, classes, dataset: 'toy', config: { variant: 'nano-b' }, params: 1, macs: 2, testImages: 10, testSubjects: ['S1'] }),
    );
  }
  writeCvSummary(dir, 10);
  const s = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  assert.equal(s.complete, false);
  assert.deepEqual(s.completedFolds, [0, 2]);
  assert.ok(Math.abs(s.meanAccuracy - 0.8) < 1e-12);
  assert.ok(Math.abs(s.stdAccuracy - Math.sqrt(0.02)) < 1e-12);
  assert.deepEqual(s.pooled.confusion, [[8, 2], [2, 8]]);
  assert.equal(s.pooled.accuracy, 0.8);
});
