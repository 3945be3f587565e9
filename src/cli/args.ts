/**
 * Tiny `--key value` / `--flag` / `--key=value` argument parser shared by the CLIs.
 *
 * Every CLI describes its command line with a {@link CliSpec}: the usage synopsis printed by
 * `--help`, in which every `--name` token IS an accepted option (so usage and parser cannot
 * drift), plus prose printed after it that is not scanned (it may name other commands'
 * options). {@link parseCli} rejects any other option with a {@link UsageError} before the CLI
 * does any work: `Unknown option --detetc (did you mean --detect?); see --help`.
 */
import { resolveTta, TtaMode } from '../model';

export interface ParsedArgs {
  [k: string]: string | boolean;
}

/** Bad command-line usage (unknown option, stray argument, bad option value): no work was done. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A CLI's command line (see the module comment). */
export interface CliSpec {
  /** The synopsis: every `--name` token in it is an accepted option. */
  usage: string;
  /** Printed after `usage` by `--help`; not scanned for options (examples of other commands, explanations). */
  notes?: string;
  /** Options accepted without being in `usage` (prefer documenting them). */
  undocumented?: readonly string[];
}

/** The option names (without dashes) that a usage text mentions as `--name` tokens, in order of first mention. */
export function optionsInUsage(usage: string): string[] {
  const out = new Set<string>();
  for (const m of usage.matchAll(/(?<![\w-])--([a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9])(?![\w-])/gi)) out.add(m[1]);
  return [...out];
}

/** Every option a CLI accepts: those of its usage synopsis, its undocumented ones, and `--help`. */
export function cliOptions(cli: CliSpec): string[] {
  return [...new Set(['help', ...optionsInUsage(cli.usage), ...(cli.undocumented ?? [])])];
}

/** What `--help` prints. */
export function helpText(cli: CliSpec): string {
  const end = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return end(cli.usage) + (cli.notes ? end(cli.notes) : '');
}

/** Edit distance with adjacent transpositions (optimal string alignment): `detetc` → `detect` is 1. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known names closest to a mistyped one (a typo of at most 1 edit, 2 for names of 5+
 * characters, or a prefix of at least 3 characters); empty when none is close.
 */
export function closestNames(name: string, known: Iterable<string>): string[] {
  const n = name.toLowerCase();
  let best: string[] = [];
  let bestScore = Infinity;
  for (const k of known) {
    const dist = editDistance(n, k.toLowerCase());
    const limit = Math.min(n.length, k.length) >= 5 ? 2 : 1;
    const score = dist <= limit ? dist : n.length >= 3 && k.toLowerCase().startsWith(n) ? 3 : Infinity;
    if (score < bestScore) {
      bestScore = score;
      best = [k];
    } else if (score === bestScore && score < Infinity) best.push(k);
  }
  return best.slice(0, 3);
}

/** ` (did you mean X or Y?)`, or '' when nothing is close. */
function didYouMean(names: string[], show: (n: string) => string): string {
  return names.length ? ` (did you mean ${names.map(show).join(' or ')}?)` : '';
}

/**
 * Parses `argv`. With `known` (option names without dashes), any other option is a
 * {@link UsageError} naming the closest known option; without it every option is accepted
 * (unit tests of option helpers). A stray argument that is not an option is a UsageError too.
 */
export function parseArgs(argv: string[], known?: Iterable<string>): ParsedArgs {
  const knownSet = known ? new Set(known) : null;
  const out: ParsedArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`Unexpected argument "${a}" (options start with --); see --help`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (knownSet && !knownSet.has(name)) {
      throw new UsageError(`Unknown option --${name}${didYouMean(closestNames(name, knownSet), (k) => `--${k}`)}; see --help`);
    }
    if (eq > 0) out[name] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[name] = argv[++i];
    else out[name] = true;
  }
  return out;
}

/**
 * Parses a CLI's argv against its {@link CliSpec} (unknown options: {@link UsageError}); with
 * `--help` prints the help text to stdout and returns null (the CLI then exits 0, doing nothing).
 */
export function parseCli(argv: string[], cli: CliSpec): ParsedArgs | null {
  const args = parseArgs(argv, cliOptions(cli));
  if (!args.help) return args;
  process.stdout.write(helpText(cli));
  return null;
}

/**
 * A comma-separated list option whose items must be among `valid` (e.g. bench stage names,
 * `what` = 'stage'): the items (undefined when absent), or a UsageError naming the unknown ones
 * and listing the valid ones.
 */
export function listOption(args: ParsedArgs, k: string, valid: readonly string[], what = 'name'): string[] | undefined {
  const v = args[k];
  if (v === undefined) return undefined;
  const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
  if (items.length === 0) throw new UsageError(`--${k} needs a comma-separated list of ${what}s: ${valid.join(', ')}`);
  const bad = items.filter((s) => !valid.includes(s));
  if (bad.length) {
    const names = bad.map((b) => `"${b}"${didYouMean(closestNames(b, valid), (n) => n)}`).join(', ');
    throw new UsageError(`--${k}: unknown ${what}${bad.length > 1 ? 's' : ''} ${names}; ${what}s: ${valid.join(', ')}`);
  }
  return items;
}

/** A numeric option (default when absent); throws a clear error for non-numbers. */
export function num(args: ParsedArgs, k: string, def: number): number {
  const v = args[k];
  if (v === undefined) return def;
  if (v === true) throw new UsageError(`--${k} needs a number; see --help`); // `--epochs` with no value: not 1
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${k} must be a number (got "${String(v)}")`);
  return n;
}

/** A whole-number option >= `min` (default when absent), e.g. `--batch`: a {@link UsageError} for anything else (`--batch 0`, `2.5`, `abc`, no value). */
export function wholeNumber(args: ParsedArgs, k: string, def: number, min = 1): number {
  const v = args[k];
  if (v === undefined) return def;
  const n = v === true ? NaN : Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${k} must be a whole number >= ${min}, got ${v === true ? 'no value' : `"${String(v)}"`}; see --help`);
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
    return new UsageError(`--tta: ${(e as Error).message}`);
  }
}

/**
 * Runs a CLI's `main` when its file is the entry point: an error prints `<label>: <message>` and
 * sets exit code 1 (no stack trace for expected errors), or `usageExitCode` for a
 * {@link UsageError} (default 1; 2 for the CLIs whose bad usage exits 2); `after` runs either
 * way (e.g. freeing tf variables).
 */
export function runMain(label: string, main: () => Promise<void>, after?: () => void, opts: { usageExitCode?: number } = {}): void {
  main()
    .catch((e) => {
      process.stderr.write(`${label}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof UsageError ? (opts.usageExitCode ?? 1) : 1;
    })
    .finally(() => after?.());
}
