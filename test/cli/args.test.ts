/**
 * The command lines of the CLIs: the strict parser (unknown options refused with a suggestion,
 * before any work), and for every CLI an audit that the options it accepts (from its usage
 * synopsis) are exactly the options its source reads, proved twice: statically (the source is
 * scanned for option reads) and by spawning it with every option it reads plus --help.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { closestNames, cliOptions, CliSpec, helpText, listOption, optionsInUsage, parseArgs, parseCli, UsageError, wholeNumber } from '../../src/cli/args';
import { MODELS } from '../../src/model';
import { EVAL_CLI, EVAL_DEFAULT_MODEL } from '../../src/cli/eval';
import { EVAL_FER_CLI } from '../../src/cli/eval-fer';
import { FER_REPORT_CLI } from '../../src/cli/fer-report';
import { FRAMING_CLI } from '../../src/cli/framing';
import { cvOptions, TRAIN_CLI } from '../../src/cli/train';
import { REPORT_CLI } from '../../src/cli/report';
import { TRAIN_FER_CLI } from '../../src/cli/train-fer';
import { FER_INSTALL_CLI } from '../../src/cli/fer-install';
import { FER_SOUP_CLI } from '../../src/cli/fer-soup';
import { FER_TEACHER_CLI } from '../../src/cli/fer-teacher';
import { BENCH_CLI, STAGE_MODULES } from '../../bench/index';
import { TRAIN_STEP_CLI } from '../../bench/train-step';
import { SOAK_CLI, soakArgs } from '../../bench/soak';
import { liveArgs } from '../../bench/live-lag';

const ROOT = path.resolve(__dirname, '../..');

describe('parseArgs / parseCli', () => {
  test('parses --key value, --key=value and --flag; without a known list every option is accepted', () => {
    assert.deepEqual(parseArgs(['--data', 'x', '--json', '--batch=8', '--n', '-1']), { data: 'x', json: true, batch: '8', n: '-1' });
    assert.deepEqual(parseArgs(['--whatever']), { whatever: true });
  });

  test('an unknown option is a UsageError naming the closest known option', () => {
    const known = ['data', 'model', 'detect', 'framing', 'tta', 'help'];
    assert.throws(() => parseArgs(['--data', 'x', '--detetc'], known), (e: Error) => e instanceof UsageError && e.message === 'Unknown option --detetc (did you mean --detect?); see --help');
    assert.throws(() => parseArgs(['--tt=flip'], known), /^UsageError: Unknown option --tt \(did you mean --tta\?\); see --help$/);
    assert.throws(() => parseArgs(['--fram'], known), /Unknown option --fram \(did you mean --framing\?\)/, 'a prefix');
    assert.throws(() => parseArgs(['--zzzzzz'], known), /^UsageError: Unknown option --zzzzzz; see --help$/, 'nothing close: no suggestion');
    assert.throws(() => parseArgs(['stray'], known), /Unexpected argument "stray"/);
    assert.deepEqual(parseArgs(['--data', 'x', '--detect'], known), { data: 'x', detect: true });
  });

  test('closestNames: transpositions, one or two edits, prefixes; nothing far away', () => {
    assert.deepEqual(closestNames('detetc', ['detect', 'data']), ['detect']);
    assert.deepEqual(closestNames('pipelin', ['decode', 'detect', 'classify', 'pipeline']), ['pipeline']);
    assert.deepEqual(closestNames('no-validate-on-stpo', ['no-validate', 'no-validate-on-stop']), ['no-validate-on-stop']);
    assert.deepEqual(closestNames('epoch', ['epochs', 'ema']), ['epochs']);
    assert.deepEqual(closestNames('xyz', ['detect', 'data']), []);
  });

  test('optionsInUsage takes every --name token of a synopsis (not a bare --, not inside words)', () => {
    assert.deepEqual(optionsInUsage('Usage: npm run x -- --data <dir> [--no-augment] [--cv 10 --add-tta: …] (--a|--b-c) e--mail'), ['data', 'no-augment', 'cv', 'add-tta', 'a', 'b-c']);
    const cli: CliSpec = { usage: 'Usage: x -- [--json]\n', notes: 'then: npm run y -- --other\n', undocumented: ['secret'] };
    assert.deepEqual(cliOptions(cli), ['help', 'json', 'secret'], 'notes are not scanned');
    assert.equal(helpText(cli), 'Usage: x -- [--json]\nthen: npm run y -- --other\n');
    assert.throws(() => parseCli(['--other'], cli), /Unknown option --other/);
  });

  test('wholeNumber: the default when absent, else a whole number >= min; anything else a UsageError', () => {
    assert.equal(wholeNumber(parseArgs([]), 'batch', 64), 64);
    assert.equal(wholeNumber(parseArgs(['--batch', '3']), 'batch', 64), 3);
    assert.equal(wholeNumber(parseArgs(['--n', '0']), 'n', 5, 0), 0);
    for (const [argv, got] of [[['--batch', '0'], '"0"'], [['--batch', '2.5'], '"2.5"'], [['--batch', 'abc'], '"abc"'], [['--batch', '-1'], '"-1"'], [['--batch'], 'no value']] as const) {
      assert.throws(() => wholeNumber(parseArgs([...argv]), 'batch', 64), (e: Error) => e instanceof UsageError && e.message === `--batch must be a whole number >= 1, got ${got}; see --help`, argv.join(' '));
    }
  });

  test('train --cv: k and the folds to run; bad values and options that need --cv (or contradict it) are UsageErrors', () => {
    assert.deepEqual(cvOptions(parseArgs([])), { k: 0 });
    assert.deepEqual(cvOptions(parseArgs(['--cv', '10'])), { k: 10 });
    assert.deepEqual(cvOptions(parseArgs(['--cv', '10', '--folds', '3, 0,3'])), { k: 10, folds: [3, 0] });
    for (const argv of [['--cv', '0'], ['--cv', '1'], ['--cv', '2.5'], ['--cv', '-2'], ['--cv', '4', '--folds', '4'], ['--cv', '4', '--folds', '1.5'], ['--cv', '4', '--folds', ','], ['--folds', '1'], ['--results', 'r'], ['--add-tta'], ['--cv', '4', '--selftest-only']]) {
      assert.throws(() => cvOptions(parseArgs(argv)), UsageError, argv.join(' '));
    }
  });

  test('listOption: comma-separated names checked against the valid ones', () => {
    const stages = ['decode', 'detect', 'classify', 'pipeline'];
    assert.equal(listOption({}, 'only', stages, 'stage'), undefined);
    assert.deepEqual(listOption({ only: 'decode, pipeline' }, 'only', stages, 'stage'), ['decode', 'pipeline']);
    assert.throws(() => listOption({ only: 'pipelin' }, 'only', stages, 'stage'), /^UsageError: --only: unknown stage "pipelin" \(did you mean pipeline\?\); stages: decode, detect, classify, pipeline$/);
    assert.throws(() => listOption({ only: true }, 'only', stages, 'stage'), /--only needs a comma-separated list of stages: decode/);
  });

  test('soakArgs: defaults, --help, bad values', () => {
    assert.deepEqual(soakArgs([]), { redeploys: 50, everySeconds: 30, model: undefined, threads: 0, classifyThreads: 0, json: false });
    assert.deepEqual(soakArgs(['--redeploys', '3', '--model', 'nano-b', '--threads', '2', '--classify-threads', '1', '--json']), { redeploys: 3, everySeconds: 30, model: 'nano-b', threads: 2, classifyThreads: 1, json: true });
    assert.deepEqual(soakArgs(['--minutes', '60', '--every', '10']), { redeploys: 50, minutes: 60, everySeconds: 10, model: undefined, threads: 0, classifyThreads: 0, json: false });
    assert.equal(soakArgs(['--minutes', '0.5'])?.minutes, 0.5);
    for (const bad of [
      ['--redeploys', '0'], ['--redeploys', 'x'], ['--redeploys'], ['--redeplys', '3'], ['--threads', '9'], ['--threads'], ['--classify-threads', '-1'], ['--classify-threads'],
      ['--minutes'], ['--minutes', '0'], ['--minutes', 'x'], ['--minutes', '5', '--redeploys', '3'], ['--every', '10'], ['--minutes', '5', '--every', '0'], ['--minutes', '5', '--every'],
    ]) {
      assert.throws(() => soakArgs(bad), UsageError, bad.join(' '));
    }
  });

  test('liveArgs: --every (endurance samples) defaults to 0 (off), whole seconds >= 0', () => {
    assert.deepEqual(liveArgs([]), { tta: 'none', sources: 3, fps: 25, seconds: 60, threads: 0, classifyThreads: 0, every: 0, json: false });
    assert.equal(liveArgs(['--seconds', '3600', '--every', '60'])?.every, 60);
    for (const bad of [['--every'], ['--every', '-1'], ['--every', '2.5'], ['--every', 'x']]) assert.throws(() => liveArgs(bad), UsageError, bad.join(' '));
  });
});

/**
 * One CLI: how to run it, its spec, and the source files where its options are read. `indirect`:
 * options read through a computed key (`args[t]`), which the scan cannot see; `notOptions`:
 * string arguments of `helper(args, '…')` calls that are not option names.
 */
interface CliCase {
  name: string;
  file: string;
  cli: CliSpec;
  label: string;
  /** Exit code of a usage error (unknown option). */
  usageExit: number;
  /** Further files that read its options (bench stages read `--long` from process.argv). */
  alsoReads?: string[];
  indirect?: string[];
  notOptions?: string[];
}

const CASES: CliCase[] = [
  { name: 'eval', file: 'src/cli/eval.ts', cli: EVAL_CLI, label: 'eval', usageExit: 2, indirect: [] /* args[k] for k of literal 'model', 'backend', 'framing', also read as args.model … */ },
  { name: 'eval:fer', file: 'src/cli/eval-fer.ts', cli: EVAL_FER_CLI, label: 'eval-fer', usageExit: 2 },
  { name: 'fer:report', file: 'src/cli/fer-report.ts', cli: FER_REPORT_CLI, label: 'fer-report', usageExit: 1 },
  { name: 'report', file: 'src/cli/report.ts', cli: REPORT_CLI, label: 'report', usageExit: 2 },
  { name: 'framing', file: 'src/cli/framing.ts', cli: FRAMING_CLI, label: 'framing', usageExit: 2 },
  { name: 'train', file: 'src/cli/train.ts', cli: TRAIN_CLI, label: 'train', usageExit: 2 },
  {
    name: 'train:fer',
    file: 'src/cli/train-fer.ts',
    cli: TRAIN_FER_CLI,
    label: 'train-fer',
    usageExit: 1,
    // teacherOption(args, head) reads args[t] / args[a] for these pairs.
    indirect: ['teacher', 'kd', 'teacher7', 'kd7'],
    notOptions: ['ferplus', 'fer2013'],
  },
  { name: 'fer:install', file: 'src/cli/fer-install.ts', cli: FER_INSTALL_CLI, label: 'fer-install', usageExit: 1 },
  { name: 'fer:soup', file: 'src/cli/fer-soup.ts', cli: FER_SOUP_CLI, label: 'fer-soup', usageExit: 1 },
  { name: 'fer:teacher', file: 'src/cli/fer-teacher.ts', cli: FER_TEACHER_CLI, label: 'fer-teacher', usageExit: 1 },
  { name: 'bench', file: 'bench/index.ts', cli: BENCH_CLI, label: 'bench', usageExit: 2, alsoReads: fs.readdirSync(path.join(ROOT, 'bench/stages')).map((f) => `bench/stages/${f}`) },
  { name: 'bench:train', file: 'bench/train-step.ts', cli: TRAIN_STEP_CLI, label: 'bench:train', usageExit: 2, indirect: [] /* count(args, k): args[k], k given as a literal at each call */ },
  { name: 'soak', file: 'bench/soak.ts', cli: SOAK_CLI, label: 'soak', usageExit: 2, indirect: ['threads', 'classify-threads'] /* count(k) reads args[k] */ },
];

/** Helpers that take the parsed args but read no option themselves (or only the key they are given, which the scan sees). */
const ARG_HELPERS = new Set(['num', 'wholeNumber', 'listOption', 'count', 'String', 'Boolean']);

/** The options a source file reads: `args.x`, `args['x-y']`, `helper(args, 'x')`, `process.argv.includes('--x')`. */
function optionReads(src: string): { reads: Set<string>; computed: boolean; helpers: Set<string> } {
  const reads = new Set<string>();
  for (const re of [/\bargs\.([a-zA-Z_]\w*)/g, /\bargs\[\s*'([\w-]+)'\s*\]/g, /\b\w+\(\s*args\s*,\s*'([\w-]+)'/g, /process\.argv\.includes\(\s*'--([\w-]+)'\s*\)/g]) {
    for (const m of src.matchAll(re)) reads.add(m[1]);
  }
  const helpers = new Set([...src.matchAll(/\b(\w+)\(\s*args\s*[,)]/g)].map((m) => m[1]));
  return { reads, computed: /\bargs\[\s*[^'\s]/.test(src), helpers };
}

describe('every CLI accepts exactly the options it reads', () => {
  for (const c of CASES) {
    test(`${c.name}: the options read by ${c.file} are its usage's options, and vice versa (static scan)`, () => {
      const src = fs.readFileSync(path.join(ROOT, c.file), 'utf8');
      const scan = optionReads(src);
      for (const f of c.alsoReads ?? []) for (const r of optionReads(fs.readFileSync(path.join(ROOT, f), 'utf8')).reads) scan.reads.add(r);
      if (scan.computed) assert.ok(c.indirect, `${c.file} reads options through a computed key (args[…]): list them in this test's \`indirect\``);
      // Every function the args are handed to is defined in the same file (so its reads were scanned) or reads no option of its own.
      for (const h of scan.helpers) {
        if (ARG_HELPERS.has(h)) continue;
        assert.match(src, new RegExp(`(function ${h}\\b|const ${h} = )`), `${c.file} passes args to ${h}(), which is not defined there: scan it too`);
      }
      const reads = new Set([...scan.reads, ...(c.indirect ?? [])].filter((r) => !(c.notOptions ?? []).includes(r)));
      const accepted = new Set(cliOptions(c.cli));
      const unaccepted = [...reads].filter((r) => !accepted.has(r));
      assert.deepEqual(unaccepted, [], `${c.file} reads options its usage does not list (they would be refused)`);
      const unread = [...accepted].filter((o) => o !== 'help' && !reads.has(o));
      assert.deepEqual(unread, [], `${c.name}'s usage lists options that ${c.file} never reads`);
    });

    test(`${c.name}: --help with every option it reads exits 0 printing only the help; a typo is refused with a suggestion before any work`, () => {
      const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', c.file, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
      const src = fs.readFileSync(path.join(ROOT, c.file), 'utf8');
      const reads = [...optionReads(src).reads, ...(c.indirect ?? [])].filter((r) => r !== 'help' && !(c.notOptions ?? []).includes(r));
      assert.ok(reads.length > 0);
      const help = run([...reads.map((r) => `--${r}`), '--help']);
      assert.equal(help.status, 0, help.stderr);
      assert.equal(help.stdout, helpText(c.cli));
      // A typo of one of its options: the longest one whose last two letters differ.
      const target = cliOptions(c.cli).filter((o) => o.length >= 4 && o.at(-1) !== o.at(-2)).sort((a, b) => b.length - a.length)[0];
      const typo = `${target.slice(0, -2)}${target.at(-1)}${target.at(-2)}`;
      const bad = run(['--help', `--${typo}`]);
      assert.equal(bad.status, c.usageExit, bad.stderr);
      assert.equal(bad.stdout, '', 'nothing printed or run');
      assert.equal(bad.stderr, `${c.label}: Unknown option --${typo} (did you mean --${target}?); see --help\n`);
    });
  }
});

describe('the CLIs of the audit', () => {
  const run = (file: string, args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });

  test('npm run eval -- --model … --detetc: refused (exit 2) instead of evaluating without face detection', () => {
    const r = run('src/cli/eval.ts', ['--data', path.join(ROOT, 'nonexistent'), '--model', 'nano-b-wild', '--detetc']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'eval: Unknown option --detetc (did you mean --detect?); see --help\n');
    assert.equal(r.stdout, '');
  });

  test('npm run eval -- --help lists every registered model and says the default is the CK+ benchmark model', () => {
    assert.equal(EVAL_DEFAULT_MODEL, 'nano-a');
    const r = run('src/cli/eval.ts', ['--help']);
    assert.equal(r.status, 0);
    const models = /--model <([^>]+)>/.exec(r.stdout)?.[1].split('|');
    assert.deepEqual(models, [...Object.keys(MODELS), 'path']);
    for (const m of ['nano-a-wild', 'nano-b-wild', 'nano-a-wild-7', 'nano-b-wild-7']) assert.ok(models?.includes(m), m);
    assert.match(r.stdout, /\(default nano-a, the CK\+ benchmark model\)/);
    // Without --data: the usage (with the models) on stdout, exit code 2.
    const noData = run('src/cli/eval.ts', []);
    assert.equal(noData.status, 2);
    assert.equal(noData.stdout, EVAL_CLI.usage);
  });

  test('npm run bench -- --help / --bogus / --only pipelin: usage or an error listing the stages, nothing benchmarked', () => {
    const help = run('bench/index.ts', ['--help']);
    assert.equal(help.status, 0);
    assert.equal(help.stdout, helpText(BENCH_CLI));
    assert.match(help.stdout, new RegExp(STAGE_MODULES.join(', ')));
    const bogus = run('bench/index.ts', ['--bogus']);
    assert.equal(bogus.status, 2);
    assert.equal(bogus.stdout, '');
    assert.equal(bogus.stderr, 'bench: Unknown option --bogus; see --help\n');
    const typo = run('bench/index.ts', ['--only', 'pipelin', '--json']);
    assert.equal(typo.status, 2);
    assert.equal(typo.stdout, '', 'no machine info printed');
    assert.equal(typo.stderr, 'bench: --only: unknown stage "pipelin" (did you mean pipeline?); stages: decode, detect, classify, pipeline\n');
  });

  test('npm run bench:train -- --bogus / bad values: refused before training', () => {
    for (const [args, msg] of [
      [['--bogus'], 'bench:train: Unknown option --bogus; see --help\n'],
      [['--trainer', 'fur'], 'bench:train: --trainer must be one of fer, ck (got "fur")\n'],
      [['--steps', '0'], 'bench:train: --steps must be a whole number >= 1 (got "0")\n'],
    ] as Array<[string[], string]>) {
      const r = run('bench/train-step.ts', args);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, msg);
    }
  });

  test('npm run soak -- --help / --bogus: usage or error, no Node-RED started', () => {
    const help = run('bench/soak.ts', ['--help']);
    assert.equal(help.status, 0);
    assert.equal(help.stdout, helpText(SOAK_CLI));
    const bogus = run('bench/soak.ts', ['--redeploy', '3']);
    assert.equal(bogus.status, 2);
    assert.equal(bogus.stderr, 'soak: Unknown option --redeploy (did you mean --redeploys?); see --help\n');
  });

  test('bench/executor-ab.ts --rounds that is not a whole number >= 1: refused (exit 2, as the other benches) instead of NaN figures', () => {
    for (const v of ['abc', '2.5', '0']) {
      const r = run('bench/executor-ab.ts', ['--rounds', v]);
      assert.equal(r.status, 2, v);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `executor-ab: --rounds must be a whole number >= 1 (got "${v}")\n`);
    }
  });

  test('npm run fer:report -- --help / --bogus: usage or error instead of the report', () => {
    const help = run('src/cli/fer-report.ts', ['--help']);
    assert.equal(help.status, 0);
    assert.equal(help.stdout, helpText(FER_REPORT_CLI));
    const bogus = run('src/cli/fer-report.ts', ['--bogus']);
    assert.equal(bogus.status, 1);
    assert.equal(bogus.stdout, '');
    assert.equal(bogus.stderr, 'fer-report: Unknown option --bogus; see --help\n');
  });
});
