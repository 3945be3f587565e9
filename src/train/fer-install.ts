/**
 * Installs a trained export (`train:fer --out`, `fer:soup --out`: model.json, weights, results.json,
 * selftest.json) as a model the package ships, `models/<name>/`. It replaces the hand copying and
 * renaming a new shipped model used to need, and it refuses what must not be shipped:
 *
 * - a directory that is not a folded EmotionNet Nano export with results.json and selftest.json;
 * - an export whose weights do not reproduce its own selftest.json through `load()` (the same
 *   check the test suite makes on every shipped model);
 * - a model of another variant or another class list than the one it replaces;
 * - replacing a model without saying where its results go: `archive` (a name under
 *   `models/fer-experiments/`, with a `note` on why it was replaced) or `noArchive`.
 *
 * The new model directory is assembled next to the target and swapped in with renames, so a
 * failure leaves the old model as it was. The renamed model keeps where it came from in
 * `results.json` (`installedFrom`). The replaced model's eval reports (`eval-fer*.json`) are not
 * carried over: they measured other weights; run `eval:fer` again (the CLI prints the commands).
 */
import * as fs from 'fs';
import * as path from 'path';
import { FaceImage, load } from '../model';
import { readModelDir } from '../model/io';
import { selfTestInputs } from '../model/selftest';
import { weightLayout } from '../model/spec';
import { silentLogger } from '../log';

export class FerInstallError extends Error {
  constructor(
    readonly code: 'BAD_NAME' | 'NOT_AN_EXPORT' | 'SELFTEST_MISMATCH' | 'INCOMPATIBLE' | 'ARCHIVE_REQUIRED' | 'ARCHIVE_EXISTS' | 'SAME_DIRECTORY',
    message: string,
  ) {
    super(message);
    this.name = 'FerInstallError';
  }
}

export interface FerInstallOptions {
  /** The export directory (holds model.json, its weights, results.json and selftest.json). */
  from: string;
  /** The shipped name: the directory under `modelsRoot`, `name` in model.json, `model` in results.json. */
  as: string;
  /** The package's models/ directory. */
  modelsRoot: string;
  /** Name under `<modelsRoot>/fer-experiments/` for the replaced model's results.json. */
  archive?: string;
  /** Why the replaced model was replaced (stored as `note` in its archived results.json); required with `archive`. */
  note?: string;
  /** Replace without archiving the old results (say so explicitly). */
  noArchive?: boolean;
  /** Validate everything, write nothing. */
  dryRun?: boolean;
  /** Largest allowed difference between `load()` probabilities and selftest.json (default 1e-4, as in the test suite). */
  tolerance?: number;
  backend?: string;
  now?: () => Date;
}

export interface FerInstallResult {
  dir: string;
  /** `name` of the export before the rename. */
  originalName: string;
  variant: string;
  classes: string[];
  replaced: boolean;
  archivedTo?: string;
  /** Files of the replaced model that were not carried over (eval reports of other weights). */
  dropped: string[];
  selfTestMaxDiff: number;
  dryRun: boolean;
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
const REQUIRED = ['model.json', 'results.json', 'selftest.json'];

const readJson = (f: string): Record<string, unknown> => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
const writeJson = (f: string, v: unknown) => fs.writeFileSync(f, JSON.stringify(v, null, 1) + '\n');

/** Largest |p_load - p_selftest| over the self-test inputs; throws when the export does not reproduce its self-test. */
export async function checkSelfTest(dir: string, classes: string[], tolerance = 1e-4, backend = 'auto'): Promise<number> {
  const st = readJson(path.join(dir, 'selftest.json')) as { classes?: string[]; probabilities?: number[][] };
  if (!Array.isArray(st.probabilities) || JSON.stringify(st.classes) !== JSON.stringify(classes)) {
    throw new FerInstallError('NOT_AN_EXPORT', `${path.join(dir, 'selftest.json')} does not hold probabilities for the model's classes (${classes.join(', ')})`);
  }
  const clf = await load({ model: dir, backend, logger: silentLogger });
  try {
    const faces: FaceImage[] = selfTestInputs().map((data) => ({ width: 48, height: 48, data }));
    const res = await clf.classify(faces);
    let maxDiff = 0;
    res.forEach((r, i) =>
      classes.forEach((c, j) => {
        const d = Math.abs(r.probabilities[c] - (st.probabilities?.[i]?.[j] ?? NaN));
        maxDiff = Math.max(maxDiff, Number.isNaN(d) ? Infinity : d); // a missing row or class never passes
      }),
    );
    if (!(maxDiff <= tolerance)) {
      throw new FerInstallError('SELFTEST_MISMATCH', `${dir}: load() does not reproduce selftest.json (largest difference ${maxDiff}, allowed ${tolerance}); the weights are not the ones the self-test was written for`);
    }
    return maxDiff;
  } finally {
    clf.dispose();
  }
}

export async function installFerExport(opts: FerInstallOptions): Promise<FerInstallResult> {
  const now = opts.now ?? (() => new Date());
  if (!NAME_RE.test(opts.as)) throw new FerInstallError('BAD_NAME', `"${opts.as}" is not a model name (lower-case letters, digits, '.', '_', '-')`);
  const from = path.resolve(opts.from);
  const root = path.resolve(opts.modelsRoot);
  const target = path.join(root, opts.as);
  if (from === target) throw new FerInstallError('SAME_DIRECTORY', `${from} is already models/${opts.as}`);
  for (const f of REQUIRED) {
    if (!fs.existsSync(path.join(from, f))) throw new FerInstallError('NOT_AN_EXPORT', `${from} is not a model export: ${f} is missing (exports come from train:fer --out or fer:soup --out)`);
  }
  const { json } = readModelDir(from); // validates format, spec and the weights' sizes
  if (!json.folded) throw new FerInstallError('NOT_AN_EXPORT', `${from} holds a training checkpoint (folded: false), not an export; ship the export its run wrote to --out`);

  const oldJsonPath = path.join(target, 'model.json');
  const replaced = fs.existsSync(oldJsonPath);
  if (!replaced && fs.existsSync(target)) {
    throw new FerInstallError('INCOMPATIBLE', `${target} exists but holds no model.json: remove it or choose another name (it is never overwritten blindly)`);
  }
  if (replaced) {
    const old = readModelDir(target).json;
    if (old.variant !== json.variant) throw new FerInstallError('INCOMPATIBLE', `models/${opts.as} is ${old.variant}; ${from} is ${json.variant}`);
    // Same variant name but another shape (e.g. a `train:fer --width 2` teacher, over the parameter budget).
    if (old.spec && json.spec && weightLayout(old.spec) !== weightLayout(json.spec)) {
      throw new FerInstallError('INCOMPATIBLE', `models/${opts.as} is ${old.spec.name}; ${from} is ${json.spec.name} (another architecture: a wider teacher is not a shipped model)`);
    }
    if (JSON.stringify(old.classes) !== JSON.stringify(json.classes)) {
      throw new FerInstallError('INCOMPATIBLE', `models/${opts.as} has classes [${old.classes.join(', ')}]; ${from} has [${json.classes.join(', ')}] (an 8-class export goes to <name>, the FER2013 head to <name>-7)`);
    }
  }
  let archiveDir: string | undefined;
  const oldResults = path.join(target, 'results.json');
  if (replaced && fs.existsSync(oldResults) && !opts.noArchive) {
    if (!opts.archive) throw new FerInstallError('ARCHIVE_REQUIRED', `models/${opts.as} is replaced: say where its results.json goes (archive <name> under models/fer-experiments, with a note) or that it is dropped (no-archive)`);
    if (!NAME_RE.test(opts.archive)) throw new FerInstallError('BAD_NAME', `"${opts.archive}" is not an archive name`);
    if (!opts.note?.trim()) throw new FerInstallError('ARCHIVE_REQUIRED', 'an archived model needs a note: why it was replaced (the archive is the record of what was tried)');
    archiveDir = path.join(root, 'fer-experiments', opts.archive);
    if (fs.existsSync(archiveDir)) throw new FerInstallError('ARCHIVE_EXISTS', `${archiveDir} exists already; choose another archive name`);
  }

  const weightFiles = [...new Set(json.weightsManifest.flatMap((g) => g.paths))];
  const outside = weightFiles.find((f) => path.basename(f) !== f || f.startsWith('.'));
  if (outside !== undefined) throw new FerInstallError('NOT_AN_EXPORT', `${from}/model.json names a weights file outside its directory ("${outside}"); an export keeps its weights next to model.json`);
  const maxDiff = await checkSelfTest(from, json.classes, opts.tolerance, opts.backend);
  const carried = new Set(['model.json', 'results.json', 'selftest.json', ...weightFiles]);
  const dropped = replaced ? fs.readdirSync(target).filter((f) => !carried.has(f)) : [];
  const result: FerInstallResult = {
    dir: target,
    originalName: json.name,
    variant: json.variant,
    classes: json.classes,
    replaced,
    archivedTo: archiveDir,
    dropped,
    selfTestMaxDiff: maxDiff,
    dryRun: !!opts.dryRun,
  };
  if (opts.dryRun) return result;

  const at = now().toISOString();
  const oldRecord = archiveDir ? readJson(oldResults) : undefined;
  const tmp = path.join(root, `.${opts.as}.installing`);
  const old = path.join(root, `.${opts.as}.replaced`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(old, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    for (const f of weightFiles) fs.copyFileSync(path.join(from, f), path.join(tmp, f));
    fs.copyFileSync(path.join(from, 'selftest.json'), path.join(tmp, 'selftest.json'));
    writeJson(path.join(tmp, 'model.json'), { ...readJson(path.join(from, 'model.json')), name: opts.as });
    const res = readJson(path.join(from, 'results.json'));
    writeJson(path.join(tmp, 'results.json'), { ...res, model: opts.as, installedFrom: { dir: path.relative(path.dirname(root), from) || from, name: json.name, at } });
    if (replaced) fs.renameSync(target, old);
    fs.renameSync(tmp, target);
  } catch (e) {
    // Put the old model back if the swap got half way; the temp directory is never left behind.
    if (!fs.existsSync(target) && fs.existsSync(old)) fs.renameSync(old, target);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fs.rmSync(old, { recursive: true, force: true });
  // The record of the replaced model is written once the new one is in place (never a record of a
  // replacement that did not happen). Its results.json was read before the swap.
  if (archiveDir && oldRecord) {
    fs.mkdirSync(archiveDir, { recursive: true });
    writeJson(path.join(archiveDir, 'results.json'), { ...oldRecord, note: opts.note?.trim(), replacedAt: at, replacedBy: path.relative(path.dirname(root), from) || from });
  }
  return result;
}

/**
 * The commands that measure a newly installed shipped model (its eval reports were not carried
 * over); with `evaluated` (fer:install --eval ran them) only the report step is left.
 */
export function afterInstallCommands(name: string, evaluated = false): string[] {
  return [
    ...(evaluated
      ? []
      : [`npm run eval:fer -- --model ${name} --out models/${name}/eval-fer.json`, `npm run eval:fer -- --model ${name} --tta flip --out models/${name}/eval-fer-flip.json`]),
    'npm run fer:report -- --write',
  ];
}
