/**
 * The `rlm-obs` command line (commander). Every command reads the same config and
 * environment as `loadObservability()`; `--config` and `--dir` override; `--json` is for
 * scripts. Exit codes: 0 done, 1 a problem was found, 2 bad usage or a broken config.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { demoCommand } from './commands/demo.js';
import { doctorCommand } from './commands/doctor.js';
import { queryCommand } from './commands/query.js';
import { replayCommand } from './commands/replay.js';
import { runsCommand } from './commands/runs.js';
import { showCommand } from './commands/show.js';
import { sinksCommand } from './commands/sinks.js';
import { statusCommand } from './commands/status.js';
import { tailCommand } from './commands/tail.js';
import { viewCommand } from './commands/view.js';
import { CliError, EXIT, forgetLoadedRedactor, scrubForOutput } from './context.js';
import { type Io, printable, processIo } from './output.js';

const EXIT_HELP = `
Exit codes:
  0  done
  1  the command found a problem (an unusable sink, a missing run or directory, failed deliveries)
  2  bad usage or a broken config

Environment:
  DSPY_RLM_OBS_ENABLED, DSPY_RLM_*_ENABLED and the sinks' settings (seed 001), used when no
  config file is found; RLM_OBS_JSONL_DIR for the local files; NO_COLOR turns colours off.`;

/** Validates an option that takes a whole number (0 or more); keeps it as the string given. */
function wholeNumberArgument(value: string): string {
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError('a whole number (0 or more) is expected.');
  return value;
}

function withGlobals(command: Command): Command {
  return command
    .option('-c, --config <file>', 'the config file (default: searched from the working directory)')
    .option(
      '-d, --dir <dir>',
      'the local JSONL directory (default: from the config, RLM_OBS_JSONL_DIR or .rlm_code/rlm/observability)',
    )
    .option('--json', 'machine-readable output');
}

/** Builds the program. `run` receives each command's exit code. */
export function buildProgram(io: Io, setExit: (code: number) => void, version: string): Command {
  const program = new Command('rlm-obs')
    .description('Observability for RLM agent runs: check sinks, browse and replay recorded runs.')
    .version(version, '-v, --version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .addHelpText('after', `${EXIT_HELP}\n\nStart with:\n  rlm-obs demo && rlm-obs runs`)
    .exitOverride();

  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      setExit(await fn(...args));
    };

  withGlobals(program.command('status'))
    .description("the sinks that would load, as in the seed's status table, with their counters")
    .addHelpText('after', '\nExample:\n  rlm-obs status --config rlm-obs.config.ts')
    .action(wrap((options) => statusCommand(options, io)));

  withGlobals(program.command('doctor'))
    .description("actively check each enabled sink's backend and print one fix per problem")
    .addHelpText(
      'after',
      '\nExits 1 when an enabled sink is unusable.\n\nExample:\n  DSPY_RLM_OTEL_ENABLED=true rlm-obs doctor',
    )
    .action(wrap((options) => doctorCommand(options, io)));

  withGlobals(program.command('sinks'))
    .description('the sink packages installed here (keyword rlm-obs-sink) and which are configured')
    .addHelpText('after', '\nExample:\n  rlm-obs sinks --json')
    .action(wrap((options) => sinksCommand(options, io)));

  withGlobals(program.command('runs'))
    .description(
      'recorded runs: id, start, duration, steps, reward, completed, tokens, cost, session/user/tags',
    )
    .option('-e, --environment <name>', 'only runs of this environment')
    .option('--completed', 'only completed runs')
    .option('--failed', 'only runs that ended without completing')
    .option('--since <time>', 'only runs started since: a date, or 30m, 2h, 7d')
    .option('--parent <run>', 'only child runs of this run')
    .option('--session <id>', 'only runs of this session')
    .option('--user <id>', 'only runs for this user')
    .option(
      '--tag <tag>',
      'only runs with this tag (repeatable, or a comma list; a run must have every one)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('-n, --limit <n>', 'show the latest n runs', '50')
    .addHelpText(
      'after',
      '\nExamples:\n  rlm-obs runs --environment dspy --since 2h\n  rlm-obs runs --session conv-7 --tag prod,beta',
    )
    .action(wrap((options) => runsCommand(options, io)));

  withGlobals(program.command('show'))
    .description(
      'a run as a trace tree: steps with timing, reward and success, nested runs indented; its session, user, tags, scores and cost per model',
    )
    .argument('<run>', 'a run id or a unique prefix of one')
    .option('--code', "also show each step's code and output")
    .addHelpText(
      'after',
      '\nRun ids are UUIDv7s, which begin with their start time: runs started close together share\ntheir first characters, so give the whole id or enough of it to be unique (rlm-obs runs lists\nthem; an ambiguous start lists the runs it matches).\n\nExamples:\n  rlm-obs show 01a20758-3481-7e99-9ff3-0929f2392328\n  rlm-obs show 01a20758-3481-7e99 --code',
    )
    .action(wrap((run: string, options) => showCommand(run, options, io)));

  withGlobals(program.command('query'))
    .description(
      'SQL (DuckDB) over the local records: views runs, steps, llm_calls, scores and a Logfire-style records',
    )
    .argument('[sql]', "the SQL; '-' reads it from stdin")
    .addOption(
      new Option('-f, --format <format>', 'output format')
        .choices(['table', 'csv', 'json'])
        .default('table'),
    )
    .option('--file <file>', 'read the SQL from a file')
    .option('--schema', 'list the views and their columns')
    .addOption(
      new Option('--max-width <n>', 'cut table cells to n characters (0: never)')
        .default('60')
        .argParser(wholeNumberArgument),
    )
    .addHelpText(
      'after',
      `
The files are read in place, so a query sees what was written a moment ago. Times are UTC;
records.duration is in seconds (as in Logfire), steps.duration_ms in milliseconds.

Examples:
  rlm-obs query "SELECT environment, count(*) AS runs, avg(total_reward) FROM runs GROUP BY 1"
  rlm-obs query "SELECT model, sum(input_tokens), sum(cost_usd) FROM llm_calls GROUP BY model" -f csv
  rlm-obs query "SELECT name, avg(value_number) FROM scores WHERE source IS DISTINCT FROM 'rlm-obs' GROUP BY 1"
  rlm-obs query "SELECT span_name, avg(duration) FROM records WHERE start_timestamp > now() - INTERVAL '24 hours' GROUP BY 1"
  rlm-obs query --schema`,
    )
    .action(wrap((sql: string | undefined, options) => queryCommand(sql, options, io)));

  withGlobals(program.command('tail'))
    .description('the latest records, and with -f new ones as they are written')
    .option('-f, --follow', 'keep printing new records (Ctrl-C to stop)')
    .option('-n, --lines <n>', 'how many records to show first', '20')
    .addOption(
      new Option('--interval <ms>', 'how often to look for new records').default('250').hideHelp(),
    )
    .addHelpText('after', '\nExample:\n  rlm-obs tail -f')
    .action(wrap((options) => tailCommand(options, io)));

  withGlobals(program.command('view'))
    .description(
      'a local web UI: run list, waterfall of steps and nested runs, step details, charts',
    )
    .option('-p, --port <port>', 'the port (0: any free port)', '0')
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .addHelpText(
      'after',
      `
Serves on 127.0.0.1 only unless --host says otherwise, prints the URL, and keeps running
until Ctrl-C. Everything is bundled (no CDN); new records appear without a reload. With
--json, prints {"url", "port", "dir"} on one line.

Example:
  rlm-obs view --port 7300`,
    )
    .action(wrap((options) => viewCommand(options, io)));

  withGlobals(program.command('replay'))
    .description(
      're-deliver recorded runs through a sink, with their original timestamps (backfill after an outage)',
    )
    .argument('[runs...]', 'run ids or unique prefixes')
    .option('--all', 'every recorded run')
    .option('--since <time>', 'runs started since: a date, or 30m, 2h, 7d')
    .option(
      '--to <sink>',
      'a configured sink name (opentelemetry, webhook) or a sink entry (otel, ./my-sink.js)',
    )
    .addHelpText(
      'after',
      '\nA disabled or uninstalled target is refused (exit 2) with the switch or install command to fix it. Replaying twice creates no duplicates where the backend de-duplicates by id; into local files (--to jsonl: into RLM_OBS_JSONL_DIR, or .rlm_code/rlm/observability; read the runs from another directory with --dir) the lines are appended again and every reader (runs, show, query, view) counts each step and score once.\n\nExamples:\n  rlm-obs replay --since 2h --to opentelemetry\n  RLM_OBS_JSONL_DIR=./merged rlm-obs replay --all --dir ./old-obs --to jsonl',
    )
    .action(wrap((runs: string[], options) => replayCommand(runs, options, io)));

  withGlobals(program.command('demo'))
    .description(
      'record a simulated RLM agent (seeded, deterministic) through the configured sinks',
    )
    .option('--seed <n>', 'the random seed', '42')
    .option('--runs <n>', 'top-level runs', '3')
    .option('--steps <n>', 'steps per run', '6')
    .addHelpText(
      'after',
      '\nExample:\n  rlm-obs demo --dir /tmp/obs && rlm-obs runs --dir /tmp/obs',
    )
    .action(wrap((options) => demoCommand(options, io)));

  return program;
}

/** An error's lines with control characters shown as escapes (a run id or a backend's text may carry ESC). */
function lines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** Runs the CLI; resolves to the exit code (never calls process.exit itself). */
export async function main(
  argv: string[],
  io: Io = processIo(),
  version = '0.0.0',
): Promise<number> {
  let code: number = EXIT.ok;
  forgetLoadedRedactor();
  const program = buildProgram(
    io,
    (c) => {
      code = c;
    },
    version,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      io.err(`rlm-obs: ${lines(error.message)}`);
      return error.exitCode;
    }
    // An unexpected error may quote a backend or a sink's settings: no secret on the way out
    // (the loaded config's redactor knows the secrets of the sinks' options too).
    let message: string;
    try {
      message = error instanceof Error ? error.message : String(error);
    } catch {
      message = 'unprintable error';
    }
    io.err(`rlm-obs: ${lines(scrubForOutput(message))}`);
    return EXIT.problem;
  }
}
