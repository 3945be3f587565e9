#!/usr/bin/env node
/**
 * `npm run fer:install -- --from <export dir> --as nano-a-wild --archive <name> --note "<why>"`:
 * makes a trained export (`train:fer --out`, `fer:soup --out`) a shipped model, `models/<as>/`.
 * Checks that the export is a folded model with results.json and selftest.json, that `load()`
 * reproduces its self-test, and that it has the variant and classes of the model it replaces;
 * renames it (`name` in model.json, `model` in results.json; `installedFrom` records the source);
 * archives the replaced model's results.json as `models/fer-experiments/<archive>/results.json`
 * with the note (or `--no-archive`). The replaced model's eval reports are dropped, since they measured
 * other weights; the commands that measure the new one are printed. See src/train/fer-install.ts.
 *
 * Options: --from <dir> (required) --as <name> (required) --archive <name> --note <text> --no-archive
 *          --models <dir> (default: this package's models/) --dry-run --backend auto|wasm|cpu
 */
import * as path from 'path';
import { modelsDir } from '../model';
import { afterInstallCommands, installFerExport } from '../train/fer-install';
import { argsOrHelp, runMain } from './args';

const USAGE =
  'Usage: npm run fer:install -- --from <export dir> --as <model name> (--archive <name> --note "<why it was replaced>" | --no-archive)\n' +
  '       [--models <models dir>] [--dry-run] [--backend auto|wasm|cpu]\n' +
  'Copies a train:fer / fer:soup export into <models>/<name>/ after checking it (folded, self-test reproduced through load(),\n' +
  'same variant and classes as the model it replaces), renames it, and archives the replaced results.json under\n' +
  '<models>/fer-experiments/<archive>/ with the note. Then run the printed eval:fer commands.\n';

async function main(): Promise<void> {
  const args = argsOrHelp(process.argv.slice(2), USAGE);
  if (!args) return;
  if (typeof args.from !== 'string') throw new Error(`--from <export dir> is required\n${USAGE}`);
  if (typeof args.as !== 'string') throw new Error(`--as <model name> is required\n${USAGE}`);
  if (args.archive === true || args.note === true) throw new Error('--archive and --note need a value');
  if (args.archive !== undefined && args['no-archive']) throw new Error('--archive and --no-archive contradict each other: choose one');
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
  if (!r.dryRun) lines.push('Next:', ...afterInstallCommands(args.as).map((c) => `  ${c}`));
  process.stderr.write(lines.join('\n') + '\n');
}

if (require.main === module) runMain('fer-install', main);
