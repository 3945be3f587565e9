#!/usr/bin/env node
/**
 * `npm run fer:soup -- --checkpoints checkpoints/a,checkpoints/b,checkpoints/c --name nano-a-soup --out models`:
 * a uniform weight soup (Wortsman et al. 2022) of `train:fer` runs that were fine-tuned from the
 * same starting weights (`--init`): the element-wise mean of their checkpoints' EMA weights in
 * training form (batch-norm statistics included), then BN-folded and exported like a training
 * run's best epoch: `<out>/<name>` (FER+ head) and `<out>/<name>-7` (FER2013 head), each with
 * model.json, weights, results.json and selftest.json. One network: the inference cost of one
 * member.
 *
 * Every member's final state is used as it is (no choice of epochs). Members must be FER
 * checkpoints of the same architecture that started from the same `--init` (runs from different
 * starting points do not share a basin and their mean is not a model); `--allow-mixed-init`
 * overrides that check. The soup is validated on the clean PublicTest sets like an epoch of a run
 * (skip with `--no-validate`, e.g. without the data); results.json records the members (their
 * checkpoint, epoch, seed, teacher and last validation) and the soup's validation. `init` is the
 * name the members' config keys give their `--init` (its directory name; `fer-report` looks for
 * it under checkpoints/).
 *
 * Options: --checkpoints <dir>,<dir>[,...] (required, ≥ 2) --name <model name> (required)
 *          --out models --data ../shared/datasets/fer2013 --backend wasm|cpu|auto
 *          --allow-mixed-init --no-validate
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend';
import { silentLogger } from '../log';
import { resolveSpec } from '../model/spec';
import { DEFAULT_FER_ROOT, loadFerIndex, selectFer } from '../train/fer';
import { evaluateFer, FerTrainState, HEAD_CLASSES, loadFerValSet, splitHeads } from '../train/fer-trainer';
import { soupFromCheckpoints } from '../train/soup';
import { foldWeights } from '../train/trainer';
import { CliSpec, parseCli, runMain } from './args';
import { evalRecord, writeFerModels } from './train-fer';

const USAGE =
  'Usage: npm run fer:soup -- --checkpoints <dir>,<dir>[,...] --name <model name> [--out models]\n' +
  '       [--data ../shared/datasets/fer2013] [--backend wasm|cpu|auto] [--allow-mixed-init] [--no-validate]\n';

/** The command line of `npm run fer:soup` (every `--name` of `usage` is an accepted option; `notes` is not scanned). */
export const FER_SOUP_CLI: CliSpec = {
  usage: USAGE,
  notes:
    'Averages the EMA weights of train:fer checkpoints that started from the same --init (a uniform soup)\n' +
    'and exports <out>/<name> (FER+ head) and <out>/<name>-7 (FER2013 head).\n',
};

/** What results.json records of each member. */
export interface SoupMemberRecord {
  work: string;
  epoch: number;
  stepInEpoch: number;
  seed?: number;
  /** The checkpoint's --init source (key `pre`), if any. */
  init?: string;
  /** FER+ / FER2013 teachers (key `kdt` / `kdt7`), if any. */
  teacher?: string;
  teacher7?: string;
  lastValFerPlus?: number;
  lastValFer2013?: number;
}

/** Reads a member checkpoint: its state and config key; a clear error when it is not a FER checkpoint. */
export function readSoupMember(dir: string): { record: SoupMemberRecord; key: Record<string, unknown> } {
  if (!fs.existsSync(path.join(dir, 'model.json'))) throw new Error(`${dir}: no model.json (not a train:fer checkpoint directory)`);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { classes?: string[]; training?: FerTrainState };
  const st = json.training;
  if (!st || typeof st.key !== 'string' || !Array.isArray(st.history) || JSON.stringify(json.classes) !== JSON.stringify(HEAD_CLASSES)) {
    throw new Error(`${dir} is not a train:fer checkpoint (a two-head training checkpoint with its config key and history)`);
  }
  const key = JSON.parse(st.key) as Record<string, unknown>;
  const last = st.history[st.history.length - 1];
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    key,
    record: {
      work: path.relative(process.cwd(), dir) || dir,
      epoch: st.epoch,
      stepInEpoch: st.stepInEpoch,
      ...(typeof key.seed === 'number' ? { seed: key.seed } : {}),
      ...(str(key.pre) ? { init: str(key.pre) } : {}),
      ...(str(key.kdt) ? { teacher: str(key.kdt) } : {}),
      ...(str(key.kdt7) ? { teacher7: str(key.kdt7) } : {}),
      ...(last ? { lastValFerPlus: last.valFerPlus, lastValFer2013: last.valFer2013 } : {}),
    },
  };
}

/** Refuses members that did not start from the same weights (unless allowed). */
export function checkSameInit(members: Array<{ record: SoupMemberRecord }>, allowMixed: boolean): void {
  if (allowMixed) return;
  const inits = members.map((m) => m.record.init ?? 'none (random init)');
  if (inits.some((i) => i === 'none (random init)') || new Set(inits).size > 1) {
    throw new Error(
      `Soup members must be fine-tuned from the same --init (got ${members.map((m, i) => `${m.record.work}: ${inits[i]}`).join('; ')}); ` +
        'runs from different starting points do not share a basin (--allow-mixed-init to average them anyway)',
    );
  }
}

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), FER_SOUP_CLI);
  if (!args) return;
  const dirs = typeof args.checkpoints === 'string' ? args.checkpoints.split(',').map((d) => d.trim()).filter(Boolean) : [];
  if (dirs.length < 2) throw new Error(`--checkpoints needs at least two checkpoint directories, comma-separated\n${USAGE}`);
  if (typeof args.name !== 'string' || !args.name) throw new Error(`--name <model name> is required\n${USAGE}`);
  const name = args.name;
  const outRoot = path.resolve(String(args.out ?? 'models'));
  const members = dirs.map((d) => readSoupMember(path.resolve(d)));
  checkSameInit(members, Boolean(args['allow-mixed-init']));
  const { spec, weights } = soupFromCheckpoints(dirs.map((d) => path.resolve(d)));
  const variant = String((JSON.parse(fs.readFileSync(path.join(path.resolve(dirs[0]), 'model.json'), 'utf8')) as { variant?: string }).variant ?? spec.name);
  const backend = await selectBackend({ backend: String(args.backend ?? 'wasm'), logger: silentLogger });
  const resolved = resolveSpec(spec);
  const folded = await foldWeights(resolved, weights);
  const { folded8, folded7 } = splitHeads(folded);

  let validation: ReturnType<typeof evalRecord> | undefined;
  if (!args['no-validate']) {
    const root = path.resolve(String(args.data ?? DEFAULT_FER_ROOT));
    const sel = selectFer(loadFerIndex(root));
    const val = loadFerValSet(root, sel.valPlus, sel.val7);
    validation = evalRecord(await evaluateFer(resolved, folded, val));
  }
  const first = members[0].key;
  const records = members.map((m) => m.record);
  const common = {
    dataset: 'soup of train:fer runs (see soup.members)',
    // The loss weights and init the members share (from the first member's config key).
    config: { soup: records.length, pretrained: records[0].init, aux7Weight: first.a7, ferPlusWeight: first.w8 ?? 1 },
    ...(records[0].init ? { init: records[0].init } : {}),
    soup: { members: records, weights: "uniform mean of the members' EMA training-form weights (BN statistics included), then BN-folded" },
    backend: backend.label,
    ...(validation ? { validation } : {}),
    exportedAt: new Date().toISOString(),
    weights: 'soup',
  };
  const { d8, d7 } = await writeFerModels(outRoot, name, { variant, spec, folded8, folded7, unfolded: weights }, common, []);
  const pct = (v?: number) => (v === undefined ? '–' : `${(v * 100).toFixed(2)} %`);
  for (const r of records) process.stderr.write(`member ${r.work} (epoch ${r.epoch}${r.stepInEpoch ? ` + ${r.stepInEpoch} steps` : ''}, seed ${r.seed ?? '–'}): last PublicTest FER+ ${pct(r.lastValFerPlus)}, FER2013 ${pct(r.lastValFer2013)}\n`);
  if (validation) process.stderr.write(`soup of ${records.length}: PublicTest FER+ ${pct(validation.ferPlusPublicTest.accuracy)}, FER2013 ${pct(validation.fer2013PublicTest.accuracy)}\n`);
  process.stderr.write(`Wrote ${path.relative(process.cwd(), d8) || d8} and ${path.relative(process.cwd(), d7) || d7}\n`);
}

if (require.main === module) runMain('fer-soup', main, () => tf.disposeVariables());
