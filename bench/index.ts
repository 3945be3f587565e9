#!/usr/bin/env node
/**
 * `npm run bench [-- --json] [-- --only decode,classify] [-- --quick] [-- --long]`
 *
 * Runs every benchmark stage in one process and prints a readable table (with a progress line
 * on stderr) or, with `--json`, one JSON object whose top-level keys are the stage names.
 * `--help` prints the usage; an unknown option or stage name is an error (exit code 2) before
 * anything runs.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchContext, BenchResult, BenchStage } from './harness';
import { CliSpec, listOption, parseCli, UsageError } from '../src/cli/args';

/** The benchmark stages, in the order they run. */
export const STAGE_MODULES: readonly string[] = ['decode', 'detect', 'classify', 'pipeline'];

/** The command line of `npm run bench` (every `--name` of `usage` is an accepted option). */
export const BENCH_CLI: CliSpec = {
  usage: `Usage: npm run bench -- [--json] [--only <stage>[,<stage>...]] [--quick] [--long]\n`,
  notes:
    `  --only    run only these stages (${STAGE_MODULES.join(', ')}; default: all, in that order)\n` +
    '  --json    print one JSON object (keys: machine and the stage names) instead of tables\n' +
    '  --quick   a short smoke run of every stage\n' +
    '  --long    the pipeline stage runs its 5-minute live measurement\n' +
    'Environment (pipeline stage): EMOTIONNET_BENCH_MODEL (default nano-b-wild), EMOTIONNET_BENCH_TTA, EMOTIONNET_BENCH_DETECT_EVERY.\n',
};

function loadStage(name: string): BenchStage | null {
  const file = path.join(__dirname, 'stages', `${name}.js`);
  if (!fs.existsSync(file)) return null;
  const mod = require(file) as { stage: BenchStage };
  return mod.stage;
}

function flatten(prefix: string, v: unknown, out: Array<[string, string]>): void {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
  } else {
    out.push([prefix, Array.isArray(v) ? JSON.stringify(v) : String(v)]);
  }
}

async function main(): Promise<void> {
  const args = parseCli(process.argv.slice(2), BENCH_CLI);
  if (!args) return;
  const json = Boolean(args.json);
  const quick = Boolean(args.quick);
  // `--long` is read by the pipeline stage (bench/stages/pipeline.ts) from process.argv.
  const only = listOption(args, 'only', STAGE_MODULES, 'stage') ?? null;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emotionnet-bench-'));
  const isTTY = process.stderr.isTTY;
  const ctx: BenchContext = {
    workDir,
    quick,
    progress: (text) => {
      if (json && !isTTY) return;
      process.stderr.write(isTTY ? `\r\x1b[K${text}` : `${text}\n`);
    },
  };
  const results: Record<string, BenchResult> = {
    machine: {
      node: process.version,
      arch: process.arch,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      date: new Date().toISOString(),
    },
  };
  let failed = false;
  for (const name of STAGE_MODULES) {
    if (only && !only.includes(name)) continue;
    const stage = loadStage(name);
    if (!stage) {
      results[name] = { skipped: 'not implemented yet' };
      continue;
    }
    ctx.progress(`[${name}] ${stage.title}…`);
    const t0 = Date.now();
    try {
      results[name] = { ...(await stage.run(ctx)), seconds: Math.round((Date.now() - t0) / 100) / 10 };
    } catch (err) {
      failed = true;
      results[name] = { error: err instanceof Error ? err.message : String(err) };
    }
    if (isTTY && !json) process.stderr.write('\r\x1b[K');
  }
  fs.rmSync(workDir, { recursive: true, force: true });
  if (json) {
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } else {
    for (const [name, r] of Object.entries(results)) {
      const rows: Array<[string, string]> = [];
      flatten('', r, rows);
      const w = Math.max(...rows.map(([k]) => k.length), 8);
      process.stdout.write(`\n${name}\n${'-'.repeat(name.length)}\n`);
      for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) {
  main().catch((err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  });
}
