import type { RunSummary } from '@rlm/sink-jsonl';
import { CliError, EXIT, type GlobalOptions, openStore, runsSince } from '../context.js';
import {
  formatCost,
  formatDuration,
  formatNumber,
  formatTime,
  type Io,
  printable,
  printJson,
  table,
} from '../output.js';
import { type RunStats, runStats } from '../run-stats.js';

/** Filters of `rlm-obs runs`. */
export interface RunsOptions extends GlobalOptions {
  environment?: string;
  completed?: boolean;
  failed?: boolean;
  since?: string;
  parent?: string;
  limit?: string;
  session?: string;
  user?: string;
  /** Repeatable, each a tag or a comma-separated list: a run must carry every one. */
  tag?: string[];
}

/** `--tag a --tag b,c` → `['a', 'b', 'c']`. */
export function tagList(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(','))
    .map((tag) => tag.trim())
    .filter(Boolean);
}

/** Session, user and tags as one cell: `conv-7 / user-42 / prod,beta` (`-` for none). */
function sessionCell(r: RunSummary): string {
  const tags = r.tags && r.tags.length > 0 ? r.tags.join(',') : '-';
  return printable(`${r.sessionId || '-'} / ${r.userId || '-'} / ${tags}`);
}

/** `rlm-obs runs`: recorded runs as a table, with filters; reads Python directories too. */
export async function runsCommand(options: RunsOptions, io: Io): Promise<number> {
  const store = await openStore(options);
  const recorded: RunSummary[] = await store.listRuns();
  let runs = recorded;
  if (options.environment) runs = runs.filter((r) => r.environment === options.environment);
  if (options.completed) runs = runs.filter((r) => r.completed === true);
  if (options.failed) runs = runs.filter((r) => r.state === 'ended' && r.completed === false);
  if (options.parent) runs = runs.filter((r) => r.parentRunId?.startsWith(options.parent!));
  if (options.session) runs = runs.filter((r) => r.sessionId === options.session);
  if (options.user) runs = runs.filter((r) => r.userId === options.user);
  const tags = tagList(options.tag);
  if (tags.length > 0) runs = runs.filter((r) => tags.every((tag) => r.tags?.includes(tag)));
  if (options.since) runs = runsSince(runs, options.since);
  const limit = options.limit ? Number(options.limit) : 50;
  if (!Number.isInteger(limit) || limit < 1)
    throw new CliError('--limit must be a positive whole number', EXIT.usage);
  const shown = runs.slice(-limit);
  const rows: Array<RunSummary & RunStats> = [];
  for (const summary of shown) {
    const stats = runStats(await store.readRun(summary.runId));
    rows.push({ ...summary, ...stats, steps: summary.steps ?? summary.stepCountObserved });
  }
  if (options.json) {
    printJson(io, { dir: store.dir, total: runs.length, runs: rows });
    return EXIT.ok;
  }
  const c = io.colors;
  const dir = printable(store.dir);
  if (rows.length === 0) {
    if (recorded.length === 0) io.out(`no runs in ${dir} (record some with: rlm-obs demo)`);
    else
      io.out(
        `no run matches the filters (${recorded.length} run${recorded.length === 1 ? '' : 's'} in ${dir})`,
      );
    return EXIT.ok;
  }
  const state = (r: (typeof rows)[number]) =>
    r.state === 'open' ? c.yellow('open') : r.completed ? c.green('yes') : c.red('no');
  const idWidth = Math.max(...rows.map((r) => r.runId.length + (r.parentRunId ? 2 : 0)));
  // The session column only when a shown run has a session, a user or tags.
  const sessions = rows.some((r) => r.sessionId || r.userId || (r.tags && r.tags.length > 0));
  io.out(
    table(
      [
        'run',
        'started',
        'duration',
        'steps',
        'reward',
        'completed',
        'tokens',
        'cost',
        'environment',
        ...(sessions ? ['session / user / tags'] : []),
      ],
      rows.map((r) => [
        `${r.parentRunId ? '↳ ' : ''}${printable(r.runId)}`,
        formatTime(r.startedAt),
        formatDuration(r.durationMs),
        r.steps ?? '-',
        formatNumber(r.totalReward),
        state(r),
        r.inputTokens + r.outputTokens > 0 ? String(r.inputTokens + r.outputTokens) : '-',
        formatCost(r.costUsd),
        printable(r.environment || '-'),
        ...(sessions ? [sessionCell(r)] : []),
      ]),
      {
        width: io.columns,
        // A run id wraps over two lines while other columns can go, then over up to four;
        // the session column keeps some room.
        min: [Math.ceil(idWidth / 2), 10, ...Array(7).fill(undefined), 22],
        floor: [Math.ceil(idWidth / 4)],
        // On a narrow terminal: session, environment, cost, tokens, duration, steps and
        // started go, in that order; the id, reward and completed stay.
        optional: [9, 8, 7, 6, 2, 3, 1],
      },
    ),
  );
  io.out(c.dim(`${rows.length} of ${runs.length} runs in ${dir}`));
  return EXIT.ok;
}
