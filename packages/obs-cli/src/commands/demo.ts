import { envFlag, type LoadedConfig, type SinkStatus } from '@rlm/obs-core';
import { CliError, EXIT, type GlobalOptions, loadContext } from '../context.js';
import { runDemoAgent } from '../demo-agent.js';
import { type Io, oneLine, printable, printJson } from '../output.js';

/** Options of `rlm-obs demo`. */
export interface DemoCommandOptions extends GlobalOptions {
  seed?: string;
  runs?: string;
  steps?: string;
}

/** A whole number from an option, at least `min`, or a usage error. */
function wholeNumber(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new CliError(
      `${flag} must be a whole number, ${min} or more, not '${printable(value)}'`,
      EXIT.usage,
    );
  return n;
}

/** A path as a POSIX shell reads it back: quoted when it holds anything but plain characters. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * What went wrong with an enabled sink, from the coordinator's report and the sink's status,
 * and whether what the sink took is known to have arrived (`lost`: it was unavailable, could
 * not write lines, or its flush failed).
 */
function sinkProblem(
  report: { ok: boolean; failed: number; dropped: number; error?: string },
  status: Record<string, unknown> | undefined,
): { problem: string; lost: boolean } | undefined {
  if (status && status.available === false)
    return {
      problem: typeof status.detail === 'string' && status.detail ? status.detail : 'unavailable',
      lost: true,
    };
  const count = (key: string) => (typeof status?.[key] === 'number' ? (status[key] as number) : 0);
  const failedLines = count('lines_failed');
  const droppedLines = count('lines_dropped');
  if (failedLines > 0 || droppedLines > 0)
    return {
      problem: [
        failedLines > 0 ? `${failedLines} lines could not be written` : '',
        droppedLines > 0 ? `${droppedLines} lines were dropped` : '',
      ]
        .filter(Boolean)
        .join(', '),
      lost: true,
    };
  if (!report.ok || report.failed > 0)
    return { problem: report.error ?? 'events could not be delivered', lost: !report.ok };
  return undefined;
}

/**
 * A sink's line of `demo --json`, shaped like `replay --json`'s report: `delivered` is `null`
 * when what it took is not known to have arrived (its flush failed, it was unavailable or
 * could not write lines), `handedToSink` the events it took, `error` why, when it has a
 * problem.
 */
interface DemoSinkReport {
  name: string;
  enabled: boolean;
  ok: boolean;
  delivered: number | null;
  handedToSink: number;
  failed: number;
  dropped: number;
  pending: number;
  error?: string;
}

/**
 * Why the local files got nothing although the demo ran, with how to turn them on, or
 * `undefined` when they took events: observability switched off, no local sink, the local
 * sink disabled, or a sink that took no event.
 */
function nothingRecorded(
  local: SinkStatus | undefined,
  delivered: number,
  config: LoadedConfig | undefined,
  env: Record<string, string | undefined>,
): { reason: string; fix?: string } | undefined {
  const inConfig = config ? ` in ${config.file}` : '';
  const master = env.DSPY_RLM_OBS_ENABLED;
  if (!envFlag(master, true))
    return {
      reason: `observability is switched off (DSPY_RLM_OBS_ENABLED=${master})`,
      fix: 'unset DSPY_RLM_OBS_ENABLED',
    };
  if (config?.config.enabled === false)
    return {
      reason: `observability is switched off (enabled: false${inConfig})`,
      fix: `remove \`enabled: false\`${config ? ` from ${config.file}` : ''}`,
    };
  if (!local)
    return {
      reason: `no local-jsonl sink is configured${inConfig}`,
      fix: `add 'jsonl' to the sinks${inConfig}`,
    };
  if (!local.enabled) {
    const flag = env.DSPY_RLM_OBS_LOCAL_JSONL;
    if (!envFlag(flag, true))
      return {
        reason: `local-jsonl is disabled (DSPY_RLM_OBS_LOCAL_JSONL=${flag})`,
        fix: 'unset DSPY_RLM_OBS_LOCAL_JSONL',
      };
    return {
      reason: `local-jsonl is disabled (enabled: false in its options${inConfig})`,
      fix: `remove \`enabled: false\` from its options${inConfig}`,
    };
  }
  if (delivered === 0) return { reason: 'local-jsonl took no events' };
  return undefined;
}

/**
 * `rlm-obs demo`: a simulated RLM agent (seeded, deterministic) through the configured sinks —
 * by default only the local files — then where the files are and what to try next. Exits 1
 * when an enabled sink did not take everything (the coordinator's counters, and the sink's
 * own status: unavailable, or lines it could not write).
 */
export async function demoCommand(options: DemoCommandOptions, io: Io): Promise<number> {
  const seed = wholeNumber(options.seed, '--seed', 0);
  const runCount = wholeNumber(options.runs, '--runs', 1);
  const stepCount = wholeNumber(options.steps, '--steps', 2);
  const { obs, config } = await loadContext(options);
  const result = await runDemoAgent(obs, {
    ...(seed !== undefined ? { seed } : {}),
    ...(runCount !== undefined ? { runs: runCount } : {}),
    ...(stepCount !== undefined ? { steps: stepCount } : {}),
  });
  const report = await obs.shutdown({ timeoutMs: 10_000 });
  const jsonl = obs.getSink('local-jsonl') as ({ dir?: string } & object) | undefined;
  const statuses = obs.status();
  const enabled = new Set(statuses.filter((s) => s.enabled).map((s) => s.name));
  const found = report.sinks
    .filter((r) => enabled.has(r.name))
    .map((r) => ({
      sink: r.name,
      found: sinkProblem(
        r,
        statuses.find((s) => s.name === r.name) as Record<string, unknown> | undefined,
      ),
    }))
    .filter((p): p is { sink: string; found: { problem: string; lost: boolean } } =>
      Boolean(p.found),
    )
    // The sinks and the coordinator scrub their messages; this also knows the config's secrets.
    .map((p) => ({
      sink: p.sink,
      problem: obs.redactor.scrub(p.found.problem),
      lost: p.found.lost,
    }));
  const problems = found.map(({ sink, problem }) => ({ sink, problem }));
  const sinkReports: DemoSinkReport[] = report.sinks.map((r) => {
    const problem = found.find((p) => p.sink === r.name);
    return {
      name: r.name,
      enabled: enabled.has(r.name),
      ok: problem === undefined,
      delivered: problem?.lost ? null : r.delivered,
      handedToSink: r.delivered,
      failed: r.failed,
      dropped: r.dropped,
      pending: r.pending,
      ...(problem ? { error: problem.problem } : {}),
    };
  });
  const ok = report.ok && problems.length === 0;
  const jsonlFailed = problems.some((p) => p.sink === 'local-jsonl');
  // Nothing in the local files, though nothing failed (they were switched off): no pointers.
  const notRecorded = jsonlFailed
    ? undefined
    : nothingRecorded(
        statuses.find((st) => st.name === 'local-jsonl'),
        report.sinks.find((r) => r.name === 'local-jsonl')?.delivered ?? 0,
        config,
        process.env,
      );
  if (options.json) {
    printJson(io, {
      ...result,
      dir: notRecorded ? null : (jsonl?.dir ?? null),
      recorded: !notRecorded && !jsonlFailed,
      ...(notRecorded ? { notRecorded } : {}),
      ok,
      problems,
      sinks: sinkReports,
    });
    return ok ? EXIT.ok : EXIT.problem;
  }
  const c = io.colors;
  const failing = result.failedRunId ? ', 1 that fails' : '';
  io.out(
    `${c.bold('rlm-obs demo')}: ${result.runIds.length} run${result.runIds.length === 1 ? '' : 's'} (${result.nestedRunIds.length} nested sub-runs${failing})`,
  );
  for (const s of report.sinks.filter((r) => enabled.has(r.name))) {
    const problem = problems.find((p) => p.sink === s.name)?.problem;
    const mark = problem === undefined ? c.green('✓') : c.red('✗');
    // With a problem, what the sink took is not known to have arrived: it was handed over.
    const took =
      problem === undefined
        ? `${s.delivered} events delivered`
        : `${s.delivered} events handed to the sink, not all delivered`;
    io.out(`  ${mark} ${printable(s.name)}: ${took}, ${s.failed} failed, ${s.dropped} dropped`);
    if (problem !== undefined) io.out(`      problem: ${oneLine(problem, 300)}`);
  }
  if (jsonlFailed) {
    // Nothing (or not everything) is in the files: no pointers to records that are not there.
    io.err(
      c.red(
        `rlm-obs demo: the local files were not written${jsonl?.dir ? ` (${printable(jsonl.dir)})` : ''}`,
      ),
    );
    return EXIT.problem;
  }
  if (notRecorded) {
    const elsewhere = report.sinks.some(
      (r) => r.name !== 'local-jsonl' && enabled.has(r.name) && r.delivered > 0,
    );
    io.out(
      `\n${c.yellow(`nothing recorded${elsewhere ? ' in the local files' : ''}: ${printable(notRecorded.reason)}`)}`,
    );
    if (notRecorded.fix) io.out(`  to record in the local files: ${printable(notRecorded.fix)}`);
    return ok ? EXIT.ok : EXIT.problem;
  }
  if (jsonl?.dir) {
    io.out(`\nrecords: ${printable(jsonl.dir)}`);
    io.out(`  runs.jsonl, starts.jsonl, scores.jsonl, steps/<run_id>.jsonl`);
  }
  const dirFlag = options.dir ? ` --dir ${printable(shellQuote(options.dir))}` : '';
  io.out(`\nnext:`);
  io.out(`  rlm-obs runs${dirFlag}                      ${c.dim('# the runs as a table')}`);
  const first = result.runIds[0];
  const allIds = [...result.runIds, ...result.nestedRunIds];
  // At least the id's time (13 characters), more where another run of this demo shares it.
  const prefix = (id: string) => {
    let n = Math.min(13, id.length);
    while (
      n < id.length &&
      allIds.some((other) => other !== id && other.startsWith(id.slice(0, n)))
    )
      n++;
    return id.slice(0, n);
  };
  if (first)
    io.out(`  rlm-obs show ${prefix(first)}${dirFlag}   ${c.dim('# a run as a trace tree')}`);
  if (result.failedRunId)
    io.out(
      `  rlm-obs show ${prefix(result.failedRunId)} --code${dirFlag}   ${c.dim('# the run that failed, with code')}`,
    );
  io.out(`  rlm-obs tail -f${dirFlag}                   ${c.dim('# watch new records')}`);
  io.out(
    `  rlm-obs view${dirFlag}                      ${c.dim('# the local viewer in a browser')}`,
  );
  io.out(
    `  rlm-obs query "SELECT model, sum(input_tokens), sum(cost_usd) FROM llm_calls GROUP BY 1"${dirFlag}`,
  );
  return ok ? EXIT.ok : EXIT.problem;
}
