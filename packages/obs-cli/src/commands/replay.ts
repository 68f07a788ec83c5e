import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RlmObsConfigError, resolveSinkEntry, stderrLogger } from '@rlm/obs-core';
import cliProgress from 'cli-progress';
import {
  CliError,
  EXIT,
  findRunId,
  type GlobalOptions,
  loadContext,
  openStore,
  runsSince,
} from '../context.js';
import { type Io, printJson } from '../output.js';
import { replayRuns } from '../replay.js';

/** Options of `rlm-obs replay`. */
export interface ReplayOptions extends GlobalOptions {
  to?: string;
  all?: boolean;
  since?: string;
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
          fallbackDirs: [path.dirname(fileURLToPath(import.meta.url))],
        },
      );
    } catch (error) {
      await obs.shutdown({ timeoutMs: 2000 });
      if (error instanceof RlmObsConfigError) throw new CliError(error.message, EXIT.usage);
      throw error;
    }
  }
  if (!sink) throw new CliError(`--to: no sink '${options.to}'`, EXIT.usage);
  if (
    sink.name === 'local-jsonl' &&
    path.resolve((sink as { dir?: string }).dir ?? '') === store.dir
  ) {
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
  const report = await replayRuns(store, runIds, sink, {
    onProgress: ({ done }) => bar?.update(done),
  });
  bar?.stop();
  if (owned) await sink.shutdown?.();
  await obs.shutdown({ timeoutMs: 5000 });
  if (options.json) {
    printJson(io, { to: sink.name, from: store.dir, ...report });
  } else {
    const c = io.colors;
    io.out(
      `replayed ${report.runs} run(s) from ${store.dir} to ${sink.name}: ${report.events} events, ${c.green(`${report.delivered} delivered`)}, ${report.failed > 0 ? c.red(`${report.failed} failed`) : '0 failed'}, ${report.dropped} dropped`,
    );
    if (!report.ok)
      io.out(
        c.yellow(
          `some events were not delivered; check the backend (rlm-obs doctor) and replay again`,
        ),
      );
  }
  return report.ok ? EXIT.ok : EXIT.problem;
}
