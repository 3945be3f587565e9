/** Tiny `--key value` / `--flag` / `--key=value` argument parser shared by the CLIs. */
import { resolveTta, TtaMode } from '../model';

export interface ParsedArgs {
  [k: string]: string | boolean;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const out: ParsedArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`Unexpected argument "${a}"`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

/** A numeric option (default when absent); throws a clear error for non-numbers. */
export function num(args: ParsedArgs, k: string, def: number): number {
  const v = args[k];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${k} must be a number (got "${String(v)}")`);
  return n;
}

/** Seconds as `4m05s` / `1h02m`. */
export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** `--tta <mode>` of the eval CLIs: the mode (absent: `none`), or an Error naming the allowed values (`--tta` alone too). */
export function ttaArg(v: string | boolean | undefined): TtaMode | Error {
  try {
    return resolveTta(v === undefined ? undefined : v === true ? '' : v);
  } catch (e) {
    return new Error(`--tta: ${(e as Error).message}`);
  }
}

/**
 * Runs a CLI's `main` when its file is the entry point: an error prints `<label>: <message>` and
 * sets exit code 1 (no stack trace for expected errors); `after` runs either way (e.g. freeing
 * tf variables).
 */
export function runMain(label: string, main: () => Promise<void>, after?: () => void): void {
  main()
    .catch((e) => {
      process.stderr.write(`${label}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    })
    .finally(() => after?.());
}

/** Parses argv; prints `usage` and returns null for --help. */
export function argsOrHelp(argv: string[], usage: string): ParsedArgs | null {
  const args = parseArgs(argv);
  if (!args.help) return args;
  process.stdout.write(usage);
  return null;
}
