/**
 * Reading a JSONL directory back: the list of runs and each run's start, steps and end —
 * rebuilt as the hook inputs they came from (what replay and the CLI use). Also reads
 * directories written by the Python `rlm-code`, which have no `starts.jsonl` and no `event`
 * in step lines.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type {
  ContentPolicy,
  JsonObject,
  RunEnd,
  RunStart,
  ScoreRecord,
  StepEvent,
  StepRecord,
} from '@rlm/obs-core';
import { isPlainRunId, parsePartFileName, stepFileName, stepPartFileName } from './file-names.js';
import { DEFAULT_JSONL_DIR } from './jsonl-sink.js';
import type { RunLine, ScoreLine, StartLine, StepLine } from './records.js';

/** One run as listed from a directory. */
export interface RunSummary {
  runId: string;
  task: string;
  environment: string;
  params: JsonObject;
  parentRunId?: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** `ended`: a `runs.jsonl` line exists; `open`: started (or stepped) but no end recorded. */
  state: 'ended' | 'open';
  completed: boolean | null;
  /** Steps the run reported at its end (`null` while open). */
  steps: number | null;
  /** Step lines in its steps file, when counted (`readRun`), else the end line's count. */
  stepCountObserved: number | null;
  totalReward: number | null;
  runPath: string | null;
  /** The process that recorded the start (rlm-obs only). */
  pid?: number;
  /** The session (conversation) the run belongs to (rlm-obs only). */
  sessionId?: string;
  /** The end user the run works for (rlm-obs only). */
  userId?: string;
  /** The run's labels (rlm-obs only). */
  tags?: string[];
}

/** A recorded start, with the run's content policy when it withheld content. */
export type StoredRunStart = RunStart & { recordContent?: ContentPolicy };

/** One run read back in full. */
export interface StoredRun {
  runId: string;
  summary: RunSummary;
  /**
   * The `onRunStart` input, when the start was recorded. `recordContent` is what the run
   * withheld from remote sinks (its start line's `record_content`), when it withheld anything:
   * replay passes it on, so the sinks it replays to get the content withheld again.
   */
  start?: StoredRunStart;
  /**
   * Every `onStep` input, in file order. A step line repeated with only its `timestamp` and its
   * event's timing new (a replay into a directory that already had the run) counts once: the
   * last one is kept.
   */
  steps: StepRecord[];
  /**
   * When each of `steps` was recorded (its line's `timestamp`, ISO 8601; `undefined` where a
   * line has none). Replay times the steps that carry no `startedAt` with these.
   */
  stepTimes: (string | undefined)[];
  /** The `onRunEnd` input, when the run ended. */
  end?: RunEnd;
  /**
   * Its scores and feedback from `scores.jsonl`, in file order, with the end-of-run `reward`
   * and `completed` (`source: 'rlm-obs'`). Empty for Python directories. A score line repeated
   * with only its `timestamp` new (a replay) counts once: the last one is kept.
   */
  scores: ScoreRecord[];
  /** Lines that were not valid JSON (a torn last line after a crash, for example). */
  malformedLines: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function numOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Reads a file's lines as text (nothing when the file is missing). */
export async function* readTextLines(file: string): AsyncGenerator<string> {
  let stream: ReturnType<typeof createReadStream>;
  try {
    await fsp.access(file);
    stream = createReadStream(file, { encoding: 'utf8' });
  } catch {
    return;
  }
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    yield* lines;
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** Reads JSON lines, skipping blank and malformed ones. */
export async function* readJsonLines(
  file: string,
  onMalformed?: () => void,
): AsyncGenerator<Record<string, unknown>> {
  for await (const line of readTextLines(file)) {
    if (line.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isObject(value)) yield value;
      else onMalformed?.();
    } catch {
      onMalformed?.();
    }
  }
}

/**
 * Opens a JSONL observability directory for reading.
 *
 * @example
 * ```ts
 * const store = openJsonlStore('.rlm_code/rlm/observability');
 * for (const run of await store.listRuns()) console.log(run.runId, run.totalReward);
 * const { start, steps, end } = await store.readRun(runId);
 * ```
 */
export function openJsonlStore(dir: string = DEFAULT_JSONL_DIR): JsonlStore {
  return new JsonlStore(dir);
}

/** A JSONL observability directory, read-only. */
export class JsonlStore {
  readonly dir: string;
  readonly stepsDir: string;

  constructor(dir: string = DEFAULT_JSONL_DIR) {
    this.dir = path.resolve(dir);
    this.stepsDir = path.join(this.dir, 'steps');
  }

  /** Every run in the directory: ended ones, started ones and (Python) step-only ones. */
  async listRuns(): Promise<RunSummary[]> {
    const runs = new Map<string, RunSummary>();
    for await (const line of readJsonLines(path.join(this.dir, 'starts.jsonl'))) {
      const runId = str(line.run_id);
      if (!runId) continue;
      runs.set(runId, summaryFromStart(line as unknown as StartLine));
    }
    for await (const line of readJsonLines(path.join(this.dir, 'runs.jsonl'))) {
      const runId = str(line.run_id);
      if (!runId) continue;
      runs.set(runId, summaryFromEnd(line as unknown as RunLine, runs.get(runId)));
    }
    // Python directories (and crashes before any start line) only have step files.
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.stepsDir);
    } catch {
      names = [];
    }
    const known = new Set<string>();
    for (const runId of runs.keys()) known.add(stepFileName(runId));
    for (const name of names) {
      if (!name.endsWith('.jsonl') || known.has(name)) continue;
      // A rotated part of a known run's steps (or of a file read already).
      const part = parsePartFileName(name);
      if (part && known.has(part.file)) continue;
      if (part) known.add(part.file);
      const runId = await this.#firstRunId(path.join(this.stepsDir, name), name);
      if (!runId || runs.has(runId)) continue;
      runs.set(runId, emptySummary(runId));
    }
    return [...runs.values()].sort((a, b) => str(a.startedAt).localeCompare(str(b.startedAt)));
  }

  /** One run in full, rebuilt as hook inputs. Throws when the directory has no such run. */
  async readRun(runId: string): Promise<StoredRun> {
    let start: StoredRunStart | undefined;
    let startLine: StartLine | undefined;
    let endLine: RunLine | undefined;
    let malformed = 0;
    const count = (): void => {
      malformed++;
    };
    // A run started more than once here was replayed into this directory: only then can its
    // step and score lines be repeated (see stepKey), so only then are they compared.
    let starts = 0;
    for await (const line of readJsonLines(path.join(this.dir, 'starts.jsonl'), count)) {
      if (line.run_id === runId) {
        starts++;
        startLine = line as unknown as StartLine;
        start = startFromLine(startLine);
      }
    }
    for await (const line of readJsonLines(path.join(this.dir, 'runs.jsonl'), count)) {
      if (line.run_id === runId) endLine = line as unknown as RunLine;
    }
    const stepLines: Array<{ step: StepRecord; time: string | undefined; key?: string }> = [];
    for (const file of await this.stepFiles(runId)) {
      for await (const line of readJsonLines(file, count)) {
        if (line.run_id !== undefined && line.run_id !== runId) continue;
        const key = starts > 1 ? stepKey(line) : undefined;
        stepLines.push({
          step: stepFromLine(line as unknown as StepLine),
          time: typeof line.timestamp === 'string' ? line.timestamp : undefined,
          ...(key !== undefined ? { key } : {}),
        });
      }
    }
    const kept = lastOfEach(stepLines);
    const steps = kept.map((l) => l.step);
    const stepTimes = kept.map((l) => l.time);
    const scoreLines: Array<{ score: ScoreRecord; key?: string }> = [];
    for await (const line of readJsonLines(path.join(this.dir, 'scores.jsonl'), count)) {
      if (line.run_id !== runId) continue;
      const score = scoreFromLine(line as unknown as ScoreLine);
      if (score) scoreLines.push(starts > 1 ? { score, key: scoreKey(line) } : { score });
    }
    const scores = lastOfEach(scoreLines).map((l) => l.score);
    if (!startLine && !endLine && steps.length === 0 && scores.length === 0) {
      throw new Error(`no run '${runId}' in ${this.dir}`);
    }
    let summary = startLine ? summaryFromStart(startLine) : emptySummary(runId);
    if (endLine) summary = summaryFromEnd(endLine, summary);
    summary.stepCountObserved = steps.length;
    if (!start && endLine) {
      start = {
        task: str(endLine.task),
        environment: str(endLine.environment),
        params: isObject(endLine.params) ? endLine.params : {},
        ...(endLine.started_at ? { startedAt: endLine.started_at } : {}),
        ...(endLine.parent_run_id ? { parentRunId: endLine.parent_run_id } : {}),
        ...sessionFields(endLine),
      };
    }
    const stored: StoredRun = {
      runId,
      summary,
      steps,
      stepTimes,
      scores,
      malformedLines: malformed,
    };
    if (start) stored.start = start;
    if (endLine) stored.end = endFromLine(endLine);
    return stored;
  }

  /** The steps file of a run (`steps/<run_id>.jsonl` for plain ids, as in Python). */
  stepFile(runId: string): string {
    return path.join(this.stepsDir, stepFileName(runId));
  }

  /**
   * Every steps file of a run in order: the rotated parts `steps/<run_id>~1.jsonl`,
   * `~2`, … (see the sink's `maxStepFileBytes`), then the current `steps/<run_id>.jsonl`.
   */
  async stepFiles(runId: string): Promise<string[]> {
    const files: string[] = [];
    for (let part = 1; ; part++) {
      const file = path.join(this.stepsDir, stepPartFileName(runId, part));
      try {
        await fsp.access(file);
      } catch {
        break;
      }
      files.push(file);
    }
    files.push(this.stepFile(runId));
    return files;
  }

  async #firstRunId(file: string, name: string): Promise<string | undefined> {
    for await (const line of readJsonLines(file)) {
      if (typeof line.run_id === 'string') return line.run_id;
    }
    const base = name.slice(0, -'.jsonl'.length);
    return isPlainRunId(base) ? base : undefined;
  }
}

/**
 * Lines recorded twice: a `replay` into a directory that already holds the run (a second
 * replay, or one after a replay of the run while it was open) writes its lines again, with
 * only their `timestamp` (when the line was written) new. Such a repeat counts once — the
 * last one is kept, as for the `starts.jsonl` and `runs.jsonl` lines of a run — so steps,
 * scores, tokens and cost are not doubled. Lines are compared only for a run started more
 * than once in the directory (what a replay into it leaves): the others cannot repeat. The SQL
 * views of `rlm-obs query` apply the same rule.
 *
 * A step's identity is its run, its number, its cumulative reward and its whole `event` but
 * its timing (`startedAt`, `durationMs`: a replay gives a step recorded without them the
 * times the recording implies): a step number the agent reused for a different step stays
 * two steps. Python lines (no `event`) are never merged: too little of a step is kept on them
 * to tell a repeat from a legitimately repeated step.
 */
function stepKey(line: Record<string, unknown>): string | undefined {
  if (!isObject(line.event)) return undefined;
  const { startedAt: _startedAt, durationMs: _durationMs, ...untimed } = line.event;
  return JSON.stringify([line.step ?? null, line.cumulative_reward ?? null, untimed]);
}

/** A score's identity: every field of its line but `timestamp` (its `at` included). */
function scoreKey(line: Record<string, unknown>): string {
  return JSON.stringify([
    line.name ?? null,
    line.value ?? null,
    line.kind ?? null,
    line.comment ?? null,
    line.step ?? null,
    line.source ?? null,
    line.at ?? null,
  ]);
}

/** The items without a repeat of a later item's key, in order (items without a key all stay). */
function lastOfEach<T extends { key?: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  const keep: boolean[] = new Array(items.length);
  let repeats = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const key = items[i]!.key;
    if (key === undefined || !seen.has(key)) {
      keep[i] = true;
      if (key !== undefined) seen.add(key);
    } else {
      keep[i] = false;
      repeats++;
    }
  }
  return repeats === 0 ? items : items.filter((_, i) => keep[i]);
}

function emptySummary(runId: string): RunSummary {
  return {
    runId,
    task: '',
    environment: '',
    params: {},
    startedAt: null,
    finishedAt: null,
    state: 'open',
    completed: null,
    steps: null,
    stepCountObserved: null,
    totalReward: null,
    runPath: null,
  };
}

function summaryFromStart(line: StartLine): RunSummary {
  const summary = emptySummary(str(line.run_id));
  summary.task = str(line.task);
  summary.environment = str(line.environment);
  summary.params = isObject(line.params) ? line.params : {};
  summary.startedAt = str(line.started_at) || str(line.timestamp) || null;
  if (typeof line.parent_run_id === 'string') summary.parentRunId = line.parent_run_id;
  if (typeof line.pid === 'number') summary.pid = line.pid;
  Object.assign(summary, sessionFields(line));
  return summary;
}

/** `sessionId`, `userId` and `tags` from a start or run line, where present. */
function sessionFields(
  line: StartLine | RunLine,
): Pick<RunSummary, 'sessionId' | 'userId' | 'tags'> {
  const out: Pick<RunSummary, 'sessionId' | 'userId' | 'tags'> = {};
  if (typeof line.session_id === 'string') out.sessionId = line.session_id;
  if (typeof line.user_id === 'string') out.userId = line.user_id;
  if (Array.isArray(line.tags)) out.tags = line.tags.filter((t) => typeof t === 'string');
  return out;
}

function scoreFromLine(line: ScoreLine): ScoreRecord | undefined {
  const value = line.value as unknown;
  if (typeof line.name !== 'string') return undefined;
  if (
    !(typeof value === 'number' && Number.isFinite(value)) &&
    typeof value !== 'string' &&
    typeof value !== 'boolean'
  )
    return undefined;
  const score: ScoreRecord = {
    name: line.name,
    value,
    kind: line.kind === 'feedback' ? 'feedback' : 'score',
    at: str(line.at) || str(line.timestamp),
  };
  if (typeof line.comment === 'string') score.comment = line.comment;
  if (typeof line.step === 'number') score.step = line.step;
  if (typeof line.source === 'string') score.source = line.source;
  return score;
}

function summaryFromEnd(line: RunLine, previous: RunSummary | undefined): RunSummary {
  const summary = previous ?? emptySummary(str(line.run_id));
  summary.state = 'ended';
  summary.task = str(line.task) || summary.task;
  summary.environment = str(line.environment) || summary.environment;
  if (isObject(line.params) && Object.keys(line.params).length > 0) summary.params = line.params;
  summary.startedAt = str(line.started_at) || summary.startedAt;
  summary.finishedAt = str(line.finished_at) || str(line.timestamp) || null;
  summary.completed = line.completed === true;
  summary.steps = numOrNull(line.steps);
  summary.stepCountObserved = numOrNull(line.step_count_observed);
  summary.totalReward = numOrNull(line.total_reward);
  summary.runPath =
    typeof line.run_path === 'string' && line.run_path !== '' ? line.run_path : null;
  if (typeof line.parent_run_id === 'string') summary.parentRunId = line.parent_run_id;
  Object.assign(summary, sessionFields(line));
  return summary;
}

function startFromLine(line: StartLine): StoredRunStart {
  const start: StoredRunStart = {
    task: str(line.task),
    environment: str(line.environment),
    params: isObject(line.params) ? line.params : {},
  };
  if (typeof line.parent_run_id === 'string') start.parentRunId = line.parent_run_id;
  if (typeof line.traceparent === 'string') start.traceparent = line.traceparent;
  if (isObject(line.attributes)) start.attributes = line.attributes;
  if (typeof line.started_at === 'string') start.startedAt = line.started_at;
  Object.assign(start, sessionFields(line));
  const content = line.record_content as unknown;
  if (isObject(content)) {
    // Anything but an explicit `true` withholds: a damaged field errs on the private side.
    const policy = { inputs: content.inputs === true, outputs: content.outputs === true };
    if (!policy.inputs || !policy.outputs) start.recordContent = policy;
  }
  return start;
}

function stepFromLine(line: StepLine): StepRecord {
  if (isObject(line.event)) {
    return {
      event: line.event as StepEvent,
      cumulativeReward: numOrNull(line.cumulative_reward) ?? 0,
    };
  }
  // A Python line: rebuild what it kept.
  const event: StepEvent = {};
  if (typeof line.step === 'number') event.step = line.step;
  if (typeof line.action === 'string') event.action = { action: line.action };
  if (typeof line.success === 'boolean') event.observation = { success: line.success };
  if (typeof line.reward === 'number') event.reward = line.reward;
  return { event, cumulativeReward: numOrNull(line.cumulative_reward) ?? 0 };
}

function endFromLine(line: RunLine): RunEnd {
  const result = isObject(line.result)
    ? { ...line.result }
    : {
        completed: line.completed === true,
        steps: numOrNull(line.steps) ?? 0,
        totalReward: numOrNull(line.total_reward) ?? 0,
        ...(typeof line.started_at === 'string' ? { startedAt: line.started_at } : {}),
        ...(typeof line.finished_at === 'string' ? { finishedAt: line.finished_at } : {}),
      };
  const end: RunEnd = { result };
  if (typeof line.run_path === 'string' && line.run_path !== '') end.runPath = line.run_path;
  return end;
}
