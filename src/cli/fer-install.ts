#!/usr/bin/env node
/**
 * `npm run fer:install -- --from <export dir> --as nano-a-wild --archive <name> --note "<why>"`:
 * makes a trained export (`train:fer --out`, `fer:soup --out`) a shipped model, `models/<as>/`.
 * Checks that the export is a folded model with results.json and selftest.json, that `load()`
 * reproduces its self-test, and that it has the variant and classes of the model it replaces;
 * renames it (`name` in model.json, `model` in results.json; `installedFrom` records the source);
 * archives the replaced model's results.json as `models/fer-experiments/<archive>/results.json`
 * with the note (or `--no-archive`). The replaced model's eval reports are dropped, since they measured
 * other weights; the commands that measure the new one are printed, or with `--eval` run: the
 * plain and mirror-averaged `eval:fer` reports are written into the installed model's directory.
 * See src/train/fer-install.ts.
 *
 * Options: --from <dir> (required) --as <name> (required) --archive <name> --note <text> --no-archive
 *          --models <dir> (default: this package's models/) --dry-run --backend auto|wasm|cpu
 *          --eval (then --data <fer2013 dir> --ck <ck-plus dir> as for eval:fer)
 */
import * as fs from 'fs';
import * as path from 'path';
import type { TtaMode } from '../model';
import { modelsDir } from '../model';
import { DEFAULT_FER_ROOT } from '../train/fer';
import { afterInstallCommands, installFerExport } from '../train/fer-install';
import { CliSpec, parseCli, runMain } from './args';
import { evaluateFerReport } from './eval-fer';

/** The eval:fer reports `--eval` writes into an installed model's directory, by test-time augmentation. */
export const INSTALL_EVAL_REPORTS: ReadonlyArray<{ tta: TtaMode; file: string }> = [
  { tta: 'none', file: 'eval-fer.json' },
  { tta: 'flip', file: 'eval-fer-flip.json' },
];

/**
 * `--eval`: runs `eval:fer` on the installed model in `dir`, plain and with mirror averaging
 * (the same reports as the printed commands, CK+ re-framed to fer2013 as the CLI does), and
 * writes them next to its weights. Returns the files written.
 */
export async function evaluateInstalled(dir: string, opts: { data?: string; ck?: string | null; backend?: string }, log: (s: string) => void = () => {}): Promise<string[]> {
  const written: string[] = [];
  for (const { tta, file } of INSTALL_EVAL_REPORTS) {
    log(`eval:fer ${path.basename(dir)}${tta === 'none' ? '' : ` (tta ${tta})`}...`);
    const report = await evaluateFerReport({ model: dir, data: opts.data, ck: opts.ck, ckFraming: 'fer2013', backend: opts.backend, tta }, (s) => log(`  ${s}`));
    const out = path.join(dir, file);
    fs.writeFileSync(out, JSON.stringify(report, null, 1) + '\n');
    written.push(out);
  }
  return written;
}

const USAGE =
  'Usage: npm run fer:install -- --from <export dir> --as <model name> (--archive <name> --note "<why it was replaced>" | --no-archive)\n' +
  '       [--models <models dir>] [--dry-run] [--backend auto|wasm|cpu] [--eval [--data <fer2013 dir>] [--ck <ck-plus dir>]]\n';

/** The command line of `npm run fer:install` (every `--name` of `usage` is an accepted option; `notes` is not scanned). */
export const FER_INSTALL_CLI: CliSpec = {
  usage: USAGE,
  notes:
    'Copies a train:fer / fer:soup export into <models>/<name>/ after checking it (folded, self-test reproduced through load(),\n' +
    'same variant and classes as the model it replaces), renames it, and archives the replaced results.json under\n' +
    '<models>/fer-experiments/<archive>/ with the note. Then run the printed eval:fer commands (--eval runs them:\n' +
    'the plain and mirror-averaged reports go into <models>/<name>/), and npm run fer:report -- --write.\n',
};

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), FER_INSTALL_CLI);
  if (!args) return;
  if (typeof args.from !== 'string') throw new Error(`--from <export dir> is required\n${USAGE}`);
  if (typeof args.as !== 'string') throw new Error(`--as <model name> is required\n${USAGE}`);
  if (args.archive === true || args.note === true) throw new Error('--archive and --note need a value');
  if (args.archive !== undefined && args['no-archive']) throw new Error('--archive and --no-archive contradict each other: choose one');
  if ((args.data !== undefined || args.ck !== undefined) && !args.eval) throw new Error('--data and --ck are for --eval (the datasets it evaluates on)');
  if (args.data === true || args.ck === true) throw new Error('--data and --ck need a directory');
  if (args.eval && !args['dry-run']) {
    // Checked before anything is installed: a missing dataset must not leave a model without reports half-way.
    const data = path.resolve(typeof args.data === 'string' ? args.data : DEFAULT_FER_ROOT);
    if (!fs.existsSync(path.join(data, 'manifest.csv'))) throw new Error(`--eval needs the fer2013 dataset (no manifest.csv in ${data}); pass --data <dir> or install without --eval`);
  }
  const root = typeof args.models === 'string' ? args.models : modelsDir();
  if (!root) throw new Error("cannot find this package's models/ directory; pass --models <dir>");
  const r = await installFerExport({
    from: args.from,
    as: args.as,
    modelsRoot: root,
    archive: typeof args.archive === 'string' ? args.archive : undefined,
    note: typeof args.note === 'string' ? args.note : undefined,
    noArchive: !!args['no-archive'],
    dryRun: !!args['dry-run'],
    backend: typeof args.backend === 'string' ? args.backend : 'auto',
  });
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  const lines = [
    `${r.dryRun ? 'Would install' : 'Installed'} ${rel(path.resolve(args.from))} (${r.originalName}, ${r.variant}, ${r.classes.length} classes) as ${rel(r.dir)}; self-test reproduced (largest difference ${r.selfTestMaxDiff.toExponential(1)})`,
  ];
  if (r.replaced) lines.push(`${r.dryRun ? 'Would replace' : 'Replaced'} the previous model${r.archivedTo ? `; its results.json ${r.dryRun ? 'would go' : 'went'} to ${rel(r.archivedTo)}` : ' (not archived)'}`);
  if (r.dropped.length) lines.push(`Not carried over (they measured the old weights): ${r.dropped.join(', ')}`);
  const evaluate = !!args.eval && !r.dryRun;
  if (!r.dryRun && !evaluate) lines.push('Next:', ...afterInstallCommands(args.as).map((c) => `  ${c}`));
  process.stderr.write(lines.join('\n') + '\n');
  if (!evaluate) return;
  const written = await evaluateInstalled(
    r.dir,
    { data: typeof args.data === 'string' ? args.data : undefined, ck: typeof args.ck === 'string' ? args.ck : undefined, backend: typeof args.backend === 'string' ? args.backend : undefined },
    (s) => process.stderr.write(`${s}\n`),
  );
  process.stderr.write([`Wrote ${written.map(rel).join(', ')}`, 'Next:', ...afterInstallCommands(args.as, true).map((c) => `  ${c}`)].join('\n') + '\n');
}

if (require.main === module) runMain('fer-install', main);
