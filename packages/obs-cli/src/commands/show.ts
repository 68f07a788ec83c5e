import {
  epochMs,
  parseTraceparent,
  type StepEvent,
  stepUsages,
  traceIdFromRunId,
} from '@rlm/obs-core';
import type { JsonlStore, RunSummary, StoredRun } from '@rlm/sink-jsonl';
import { EXIT, findRunId, type GlobalOptions, openStore } from '../context.js';
import {
  formatCost,
  formatDuration,
  formatNumber,
  formatScoreValue,
  type Io,
  oneLine,
  printable,
  printJson,
  squash,
  textLines,
} from '../output.js';
import { withRecordedTimes } from '../replay.js';
import { runStats } from '../run-stats.js';

/** Options of `rlm-obs show`. */
export interface ShowOptions extends GlobalOptions {
  code?: boolean;
}

interface TreeNode {
  run: StoredRun;
  children: TreeNode[];
}

async function buildTree(
  store: JsonlStore,
  runId: string,
  all: RunSummary[],
  depth = 0,
): Promise<TreeNode> {
  const run = await store.readRun(runId);
  const children: TreeNode[] = [];
  if (depth < 16) {
    for (const child of all.filter((r) => r.parentRunId === runId))
      children.push(await buildTree(store, child.runId, all, depth + 1));
  }
  return { run, children };
}

function startTime(event: StepEvent): number {
  if (typeof event.startedAt === 'number') return event.startedAt;
  const t = Date.parse(String(event.startedAt ?? ''));
  return Number.isFinite(t) ? t : Number.NaN;
}

/**
 * `rlm-obs show <run>`: the run as a trace tree like seed 004's "Trace Structure Example":
 * steps with timing, reward and success, nested runs indented, failed steps marked.
 */
export async function showCommand(id: string, options: ShowOptions, io: Io): Promise<number> {
  const store = await openStore(options);
  const runId = await findRunId(store, id);
  const all = await store.listRuns();
  const tree = await buildTree(store, runId, all);
  if (options.json) {
    const plain = (node: TreeNode): unknown => ({
      ...node.run,
      stats: runStats(node.run),
      children: node.children.map(plain),
    });
    printJson(io, plain(tree));
    return EXIT.ok;
  }
  const c = io.colors;
  const root = tree.run;
  const traceId = parseTraceparent(root.start?.traceparent)?.traceId ?? traceIdFromRunId(runId);
  io.out(`Trace: ${traceId}`);
  io.out('|');

  const render = (node: TreeNode, indent: string): void => {
    const run = node.run;
    const s = run.summary;
    const stats = runStats(run);
    const mark =
      s.state === 'open'
        ? c.yellow('… open')
        : s.completed
          ? c.green('✓')
          : c.red('✗ did not complete');
    io.out(`${indent}+-- ${c.bold('rlm.run')} [${formatDuration(stats.durationMs)}] ${mark}`);
    const attr = (key: string, value: unknown) =>
      io.out(
        `${indent}|     ${c.dim(key)} = ${printable(typeof value === 'number' ? formatScoreValue(value) : JSON.stringify(value))}`,
      );
    attr('rlm.run_id', run.runId);
    if (s.task) attr('rlm.task', squash(s.task, 100));
    attr('rlm.environment', s.environment);
    if (s.parentRunId) attr('rlm.parent_run_id', s.parentRunId);
    if (s.sessionId) attr('rlm.session_id', s.sessionId);
    if (s.userId) attr('rlm.user_id', s.userId);
    if (s.tags && s.tags.length > 0) attr('rlm.tags', s.tags);
    if (s.state === 'ended') {
      attr('rlm.completed', s.completed);
      attr('rlm.total_steps', s.steps);
      attr('rlm.total_reward', s.totalReward);
    }
    if (stats.inputTokens + stats.outputTokens > 0) {
      attr('tokens', `${stats.inputTokens} in / ${stats.outputTokens} out`);
      if (stats.costUsd > 0) attr('cost', formatCost(stats.costUsd));
    }
    const models = Object.entries(stats.byModel);
    if (models.length > 0) {
      io.out(`${indent}|     ${c.dim('by model:')}`);
      for (const [model, m] of models)
        io.out(
          `${indent}|       ${printable(model)}: ${m.calls} call${m.calls === 1 ? '' : 's'}, ${m.inputTokens} in / ${m.outputTokens} out, ${formatCost(m.costUsd)}`,
        );
      io.out(`${indent}|       ${c.dim('total')}: ${formatCost(stats.costUsd)}`);
    }
    if (run.scores.length > 0) {
      io.out(`${indent}|     ${c.dim('scores:')}`);
      for (const score of run.scores) {
        const parts = [
          `${score.name} = ${formatScoreValue(score.value)}`,
          score.kind,
          ...(score.source ? [`source ${score.source}`] : []),
          ...(score.step !== undefined ? [`step ${score.step}`] : []),
          ...(score.comment ? [JSON.stringify(squash(score.comment, 120))] : []),
        ];
        io.out(`${indent}|       ${printable(parts.join('  '))}`);
      }
    }
    // Steps without their own timing (Python rlm-code writes none) are timed as replay times
    // them: from the previous step's end (the run's start for the first) to when their line
    // was written.
    let previousEnd = epochMs(run.start?.startedAt ?? s.startedAt ?? undefined);
    const events = run.steps.map((st, index) => {
      const { step, endMs } = withRecordedTimes(st, run.stepTimes[index], previousEnd);
      previousEnd = endMs ?? previousEnd;
      return step.event;
    });
    // Steps and child runs in time order (children without a known start go last).
    type Item =
      | { at: number; kind: 'step'; index: number }
      | { at: number; kind: 'child'; node: TreeNode };
    const items: Item[] = events.map((event, index) => ({
      at: startTime(event),
      kind: 'step' as const,
      index,
    }));
    for (const child of node.children)
      items.push({ at: Date.parse(child.run.summary.startedAt ?? ''), kind: 'child', node: child });
    const stable = items.map((item, order) => ({ item, order }));
    stable.sort((a, b) => {
      const x = a.item.at;
      const y = b.item.at;
      if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
      return a.order - b.order;
    });
    const inner = `${indent}|  `;
    for (const { item } of stable) {
      if (item.kind === 'child') {
        render(item.node, inner);
        continue;
      }
      const event = events[item.index]!;
      const action = (event.action ?? {}) as { action?: string; code?: string };
      const observation = (event.observation ?? {}) as {
        success?: boolean;
        output?: string;
        error?: string;
      };
      const failed = observation.success === false;
      const duration = typeof event.durationMs === 'number' ? event.durationMs : undefined;
      const head = `${inner}+-- ${failed ? c.red('rlm.step') : 'rlm.step'} [${formatDuration(duration)}]`;
      io.out(
        `${head} ${c.dim('step')} ${oneLine(event.step ?? '?', 20)} ${c.dim('action')} ${oneLine(action.action ?? '-', 60)} ${c.dim('reward')} ${formatNumber(event.reward as number)} ${failed ? c.red('✗ failed') : observation.success === true ? c.green('✓') : ''}`.trimEnd(),
      );
      const detail = (label: string, value: unknown, max: number) =>
        io.out(`${inner}|     ${c.dim(label)}: ${oneLine(value, max)}`);
      if (failed && observation.error) detail('error', observation.error, 200);
      for (const usage of stepUsages(event)) {
        const cost = usage.costUsd !== undefined ? ` ${formatCost(usage.costUsd)}` : '';
        detail(
          'llm',
          `${usage.model ?? 'llm'} ${usage.inputTokens} in / ${usage.outputTokens} out${cost}`,
          120,
        );
      }
      if (options.code) {
        // Code and output keep their lines and indentation, each line under the tree.
        const block = (label: string, value: unknown) => {
          io.out(`${inner}|     ${c.dim(label)}:`);
          for (const text of textLines(value)) io.out(`${inner}|       ${text}`.trimEnd());
        };
        if (action.code) block('code', action.code);
        if (observation.output) block('output', observation.output);
      }
    }
    const answer = run.end?.result.finalAnswer;
    if (typeof answer === 'string' && answer)
      io.out(
        `${inner}Event: final_answer { answer: ${printable(JSON.stringify(squash(answer, 100)))} }`,
      );
    const error = run.end?.result.error;
    if (typeof error === 'string' && error)
      io.out(`${inner}${c.red(`error: ${oneLine(error, 200)}`)}`);
  };
  render(tree, '');
  if (!options.code) io.out(c.dim("\n(add --code to see each step's code and output)"));
  return EXIT.ok;
}
