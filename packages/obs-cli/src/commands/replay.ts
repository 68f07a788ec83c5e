import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  envFlag,
  type LoadedConfig,
  type RLMObservabilitySink,
  RlmObsConfigError,
  resolveSinkEntry,
  resolveSinkModule,
  SEED_SINKS,
  type SinkStatus,
  stderrLogger,
} from '@rlm/obs-core';
import cliProgress from 'cli-progress';
import { checkSink } from '../check-sink.js';
import {
  CliError,
  EXIT,
  findRunId,
  type GlobalOptions,
  loadContext,
  openStore,
  runsSince,
} from '../context.js';
import { type Io, oneLine, printable, printJson } from '../output.js';
import { replayRuns } from '../replay.js';

/** Options of `rlm-obs replay`. */
export interface ReplayOptions extends GlobalOptions {
  to?: string;
  all?: boolean;
  since?: string;
}

const CLI_DIR = path.dirname(fileURLToPath(import.meta.url));

function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unprintable error';
  }
}

/** How to turn a disabled sink on: the env switches that are off, else its config entry. */
function howToEnable(
  sinkName: string,
  to: string,
  env: Record<string, string | undefined>,
  config: LoadedConfig | undefined,
): string {
  const steps: string[] = [];
  if (!envFlag(env.DSPY_RLM_OBS_ENABLED, true))
    steps.push('unset DSPY_RLM_OBS_ENABLED (it is false)');
  const seed = SEED_SINKS.find((s) => s.sinkName === sinkName || s.shortName === to);
  // Without a config file the seed flags decide; with one, only the local files' flag still
  // counts (the sink reads it), else the entry's `enabled: false`.
  if (
    seed &&
    (!config || seed.sinkName === 'local-jsonl') &&
    !envFlag(env[seed.flag], config ? true : seed.defaultOn)
  )
    steps.push(`set ${seed.flag}=true`);
  if (seed && !resolveSinkModule(seed.packageName, config?.dir ?? process.cwd(), [CLI_DIR]))
    steps.push(`install ${seed.packageName}`);
  if (steps.length === 0)
    steps.push(
      config
        ? `remove \`enabled: false\` from its options in ${config.file}`
        : "check the sink's options (enabled)",
    );
  return steps.join(' and ');
}

/**
 * Why replay must not use the target sink, or `undefined` when it may: a disabled sink or
 * one that is not installed (obs-core's stand-in, which takes every event and delivers none)
 * would report every event as delivered. An enabled sink whose status says unavailable gets
 * its own check first (its backend may have come back since).
 */
async function unusableTarget(
  sink: RLMObservabilitySink,
  to: string,
  env: Record<string, string | undefined>,
  config: LoadedConfig | undefined,
): Promise<CliError | undefined> {
  let status: SinkStatus;
  try {
    status = sink.status();
  } catch (error) {
    return new CliError(
      `--to ${to}: the sink's status() failed: ${messageOf(error)}`,
      EXIT.problem,
    );
  }
  const name = status.name || sink.name;
  if (status.enabled === false)
    return new CliError(
      `--to ${to}: the sink '${name}' is disabled, so nothing would be delivered; to enable it, ${howToEnable(name, to, env, config)}`,
      EXIT.usage,
    );
  if (status.available !== false) return undefined;
  const detail = status.detail || 'unavailable';
  if (typeof sink.check !== 'function') {
    // obs-core's stand-in for a sink that is not installed: its detail has the install command.
    const notInstalled = /is not installed|was not found|has no fromEnv/.test(detail);
    return new CliError(
      `--to ${to}: ${notInstalled ? detail : `the sink '${name}' is unavailable: ${detail}`}`,
      notInstalled ? EXIT.usage : EXIT.problem,
    );
  }
  const result = await checkSink(sink as Parameters<typeof checkSink>[0], 'rlm-obs doctor');
  if (result.ok) return undefined;
  const first = result.problems[0];
  return new CliError(
    `--to ${to}: the sink '${name}' is unavailable: ${first ? `${first.problem} (fix: ${first.fix})` : detail}; nothing was replayed (see rlm-obs doctor)`,
    EXIT.problem,
  );
}

/**
 * `rlm-obs replay <run…> | --all | --since <time> --to <sink>`: re-delivers recorded runs
 * through a sink, named as in the config (`opentelemetry`, `webhook`) or as a config entry
 * (`otel`, `./my-sink.js`).
 */
export async function replayCommand(
  ids: string[],
  options: ReplayOptions,
  io: Io,
): Promise<number> {
  if (!options.to)
    throw new CliError(
      'replay needs --to <sink>: a configured sink name or a sink like otel or ./my-sink.js',
      EXIT.usage,
    );
  const chosen = [ids.length > 0, Boolean(options.all), Boolean(options.since)].filter(
    Boolean,
  ).length;
  if (chosen !== 1)
    throw new CliError(
      'replay takes run ids, or --all, or --since <time> (one of them)',
      EXIT.usage,
    );
  const store = await openStore(options);
  let runIds: string[];
  if (options.all || options.since) {
    const all = await store.listRuns();
    runIds = (options.since ? runsSince(all, options.since) : all).map((r) => r.runId);
  } else {
    runIds = [];
    for (const id of ids) runIds.push(await findRunId(store, id));
  }
  // The target: a sink configured under that name, else a sink entry resolved like the config's.
  const { obs, config } = await loadContext({ ...options, dir: undefined });
  let sink = obs.getSink(options.to);
  const owned = !sink;
  if (!sink) {
    try {
      sink = await resolveSinkEntry(
        options.to,
        { key: '--to' },
        {
          configDir: config?.dir ?? process.cwd(),
          env: process.env,
          logger: stderrLogger,
          fallbackDirs: [CLI_DIR],
        },
      );
    } catch (error) {
      await obs.shutdown({ timeoutMs: 2000 });
      if (error instanceof RlmObsConfigError) throw new CliError(error.message, EXIT.usage);
      throw error;
    }
  }
  if (!sink) throw new CliError(`--to: no sink '${options.to}'`, EXIT.usage);
  const refusal = await unusableTarget(sink, options.to, process.env, config);
  if (refusal) {
    if (owned) await sink.shutdown?.();
    await obs.shutdown({ timeoutMs: 2000 });
    throw new CliError(obs.redactor.scrub(refusal.message), refusal.exitCode);
  }
  if (
    sink.name === 'local-jsonl' &&
    path.resolve((sink as { dir?: string }).dir ?? '') === store.dir
  ) {
    if (owned) await sink.shutdown?.();
    await obs.shutdown({ timeoutMs: 2000 });
    throw new CliError(
      '--to local-jsonl would write the runs into the directory they are read from',
      EXIT.usage,
    );
  }
  const bar =
    io.isTTY && !options.json && runIds.length > 1
      ? new cliProgress.SingleBar(
          {
            format: 'replay [{bar}] {value}/{total} runs',
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(runIds.length, 0);
  const recordContent = config?.config.recordContent;
  const report = await replayRuns(store, runIds, sink, {
    onProgress: ({ done }) => bar?.update(done),
    // The config's content switch holds for replayed runs too (with what each run withheld).
    ...(recordContent !== undefined ? { recordContent } : {}),
  });
  bar?.stop();
  if (owned) await sink.shutdown?.();
  await obs.shutdown({ timeoutMs: 5000 });
  // The coordinator's and the sinks' messages are scrubbed already; this one also knows the
  // config's secrets.
  const error = report.error === undefined ? undefined : obs.redactor.scrub(report.error);
  if (options.json) {
    printJson(io, {
      to: sink.name,
      from: store.dir,
      ...report,
      ...(error !== undefined ? { error } : {}),
    });
  } else {
    const c = io.colors;
    const flushed = report.delivered !== null;
    const handed = flushed
      ? c.green(`${report.handedToSink} delivered`)
      : c.yellow(`${report.handedToSink} handed to the sink`);
    const regenerated =
      report.regenerated > 0
        ? ` (with the ${report.regenerated} reward/completed scores made again at each run's end)`
        : '';
    io.out(
      `replayed ${report.runs} run(s) from ${printable(store.dir)} to ${printable(sink.name)}: ${report.events} events, ${handed}${regenerated}, ${report.failed > 0 ? c.red(`${report.failed} failed`) : '0 failed'}, ${report.dropped} dropped`,
    );
    if (!flushed)
      io.out(
        c.red(`the sink could not deliver them: ${oneLine(error ?? 'its flush failed', 500)}`),
      );
    else if (error !== undefined) io.out(c.red(`error: ${oneLine(error, 500)}`));
    if (!report.ok)
      io.out(
        c.yellow(
          `some events were not delivered; check the backend (rlm-obs doctor) and replay again`,
        ),
      );
  }
  return report.ok ? EXIT.ok : EXIT.problem;
}
