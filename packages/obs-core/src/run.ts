/**
 * The run API agent code actually wants: `obs.startRun()` → `run.step()` … `run.end()`, with
 * the cumulative reward and step count kept for you, nested runs through `run.child()` and a
 * W3C `traceparent` for runs continued in another process.
 */
import type { RecordContent } from './content.js';
import type { RunResult, StepEvent } from './contract.js';
import type { RLMObservability } from './coordinator.js';
import {
  formatTraceparent,
  newRunId,
  parseTraceparent,
  spanIdFromRunId,
  traceIdFromRunId,
} from './ids.js';

/** Options of `obs.startRun()`. */
export interface StartRunOptions {
  /** The run id. @defaultValue a new time-ordered UUID v7 */
  runId?: string;
  task?: string;
  /** @defaultValue `'default'` */
  environment?: string;
  params?: Record<string, unknown>;
  /** The run that spawned this one; `run.child()` sets it. */
  parentRunId?: string;
  /** A W3C `traceparent` from a parent in another process. */
  traceparent?: string;
  attributes?: Record<string, unknown>;
  /** Where the run's artifacts live; passed to sinks at the end as `runPath`. */
  runPath?: string;
  /** The conversation or session; `run.child()` passes it on. */
  sessionId?: string;
  /** The end user; `run.child()` passes it on. */
  userId?: string;
  /** Labels; `run.child()` passes them on (a child's own tags are added). */
  tags?: string[];
  /**
   * `false` keeps this run's code, outputs, task text and LLM messages away from remote sinks
   * (sizes are kept); `{ inputs: false }` or `{ outputs: false }` for one side. Child runs
   * inherit it. @defaultValue the coordinator's `recordContent`
   */
  recordContent?: RecordContent;
}

/** Options of `run.score()` and `run.feedback()`. */
export interface ScoreOptions {
  comment?: string;
  /** The step the score is about. */
  step?: number;
  /** Who gave it, for example `user`, `llm-judge`, `unit-tests`. */
  source?: string;
}

/** What `run.end()` takes: the seed's result fields, all optional. */
export interface EndRunOptions extends RunResult {
  runPath?: string;
}

/**
 * A plain copy of a caller's options object: a throwing getter or Proxy trap leaves that key
 * (or, when even its keys cannot be listed, everything) out instead of throwing.
 */
function plainCopy(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object') return {};
  try {
    return { ...(value as Record<string, unknown>) };
  } catch {
    const out: Record<string, unknown> = {};
    let keys: string[];
    try {
      keys = Object.keys(value);
    } catch {
      return out;
    }
    for (const key of keys) {
      try {
        out[key] = (value as Record<string, unknown>)[key];
      } catch {
        // a throwing getter: left out
      }
    }
    return out;
  }
}

/** The strings of a caller's tag list (a Proxy's traps may throw). */
function tagList(value: unknown): string[] | undefined {
  try {
    return Array.isArray(value)
      ? Array.from(value as unknown[]).filter((t): t is string => typeof t === 'string')
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One RLM run. Never throws: inputs that cannot be read are left out; `step()` and `end()`
 * after `end()` are ignored with a warning; `child()`, `score()` and `feedback()` stay allowed.
 *
 * @example
 * ```ts
 * const run = obs.startRun({ task: 'Sum a list', environment: 'pure_rlm' });
 * run.step({ action: { action: 'run_python', code: 'sum([1,2])' }, observation: { success: true, output: '3' }, reward: 0.5 });
 * run.end({ completed: true, finalAnswer: '3' }); // steps and totalReward are filled in
 * ```
 */
export class Run {
  /** The run id. */
  readonly id: string;
  /** The 32-hex trace id this run belongs to (shared with its parent and children). */
  readonly traceId: string;
  /** The 16-hex span id of this run's root span. */
  readonly spanId: string;
  readonly parentRunId: string | undefined;
  /** ISO start time. */
  readonly startedAt: string;

  readonly #obs: RLMObservability;
  readonly #runPath: string | undefined;
  readonly #inherit: Pick<StartRunOptions, 'sessionId' | 'userId' | 'tags' | 'recordContent'>;
  readonly #traceFlags: number;
  #steps = 0;
  #cumulativeReward = 0;
  #ended = false;

  /** @internal use `obs.startRun()` */
  constructor(obs: RLMObservability, options: StartRunOptions) {
    this.#obs = obs;
    const opts = plainCopy(options) as StartRunOptions;
    // The id the sinks see: a huge id is shortened the same way the coordinator does.
    const own = typeof opts.runId === 'string' ? obs._runId(opts.runId) : undefined;
    this.id = own ?? newRunId();
    this.parentRunId =
      typeof opts.parentRunId === 'string' ? obs._runId(opts.parentRunId) : undefined;
    const remote = parseTraceparent(opts.traceparent);
    this.traceId = remote?.traceId ?? traceIdFromRunId(this.id);
    this.#traceFlags = remote?.traceFlags ?? 1;
    this.spanId = spanIdFromRunId(this.id);
    this.#runPath = typeof opts.runPath === 'string' ? opts.runPath : undefined;
    this.startedAt = new Date().toISOString();
    const tags = tagList(opts.tags);
    this.#inherit = {
      ...(opts.sessionId !== undefined ? { sessionId: opts.sessionId } : {}),
      ...(opts.userId !== undefined ? { userId: opts.userId } : {}),
      ...(tags ? { tags } : {}),
      ...(opts.recordContent !== undefined ? { recordContent: opts.recordContent } : {}),
    };
    obs.onRunStart(this.id, {
      ...this.#inherit,
      task: opts.task ?? '',
      environment: opts.environment ?? 'default',
      params: opts.params ?? {},
      ...(this.parentRunId !== undefined ? { parentRunId: this.parentRunId } : {}),
      ...(remote ? { traceparent: opts.traceparent as string } : {}),
      ...(opts.attributes !== undefined ? { attributes: opts.attributes } : {}),
      startedAt: this.startedAt,
    });
  }

  /** Steps recorded so far. */
  get steps(): number {
    return this.#steps;
  }

  /** The sum of the rewards recorded so far. */
  get cumulativeReward(): number {
    return this.#cumulativeReward;
  }

  /** Whether `end()` was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Records a step. `event.step` defaults to the next step number; the cumulative reward
   * adds `event.reward` when it is a finite number. Returns the cumulative reward.
   */
  step(event: StepEvent): number {
    if (this.#ended) {
      this.#obs._warn(
        `run-step-after-end:${this.id}`,
        `run '${this.id}': step() after end() ignored`,
      );
      return this.#cumulativeReward;
    }
    this.#steps++;
    let reward: unknown;
    try {
      reward = event?.reward;
    } catch {
      reward = undefined;
    }
    if (typeof reward === 'number' && Number.isFinite(reward)) this.#cumulativeReward += reward;
    this.#obs._runStep(this.id, event, this.#cumulativeReward, this.#steps);
    return this.#cumulativeReward;
  }

  /**
   * Starts a nested run whose parent is this one (same trace). It inherits the session, the
   * user, the tags and the content switch unless given its own.
   */
  child(options: Omit<StartRunOptions, 'parentRunId' | 'traceparent'> = {}): Run {
    const inherited = this.#inherit;
    const own = plainCopy(options) as StartRunOptions;
    const ownTags = tagList(own.tags);
    const tags =
      inherited.tags || ownTags
        ? [...new Set([...(inherited.tags ?? []), ...(ownTags ?? [])])]
        : undefined;
    return this.#obs.startRun({
      ...inherited,
      ...own,
      ...(tags ? { tags } : {}),
      parentRunId: this.id,
      traceparent: this.traceparent(),
    });
  }

  /**
   * Scores the run (or one of its steps, with `step`): an evaluation such as `correctness`
   * or `judge_score`. Goes to every sink that keeps scores (Langfuse scores, LangSmith
   * feedback, MLflow metrics, span events, logs, the local files). Allowed after `end()`.
   *
   * @example
   * ```ts
   * run.score('correctness', 0.8, { comment: 'one edge case missed', source: 'llm-judge' });
   * ```
   */
  score(name: string, value: number | string | boolean, options: ScoreOptions = {}): void {
    this.#obs.onScore(this.id, { ...plainCopy(options), name, value, kind: 'score' });
  }

  /**
   * Records feedback on the run, typically from a user (`thumbs_up`, `rating`); like
   * {@link score} but marked as feedback. Allowed after `end()`.
   */
  feedback(name: string, value: number | string | boolean, options: ScoreOptions = {}): void {
    this.#obs.onScore(this.id, { ...plainCopy(options), name, value, kind: 'feedback' });
  }

  /** This run's W3C `traceparent`, to continue it in another process. */
  traceparent(): string {
    return formatTraceparent({
      traceId: this.traceId,
      spanId: this.spanId,
      traceFlags: this.#traceFlags,
    });
  }

  /**
   * Ends the run. `steps` and `totalReward` default to what the run counted; `completed`
   * defaults to true unless an `error` is given.
   */
  end(result: EndRunOptions = {}): void {
    if (this.#ended) {
      this.#obs._warn(`run-ended:${this.id}`, `run '${this.id}': end() called twice; ignored`);
      return;
    }
    this.#ended = true;
    const { runPath, ...rest } = plainCopy(result) as EndRunOptions;
    const full: RunResult = {
      ...rest,
      completed: rest.completed ?? rest.error === undefined,
      steps: rest.steps ?? this.#steps,
      totalReward: rest.totalReward ?? this.#cumulativeReward,
      startedAt: rest.startedAt ?? this.startedAt,
      finishedAt: rest.finishedAt ?? new Date().toISOString(),
    };
    const path = runPath ?? this.#runPath;
    this.#obs.onRunEnd(
      this.id,
      path !== undefined ? { result: full, runPath: path } : { result: full },
    );
  }

  /** Ends the run as not completed, with the error's message. */
  fail(error: unknown, result: EndRunOptions = {}): void {
    let message: string;
    try {
      message = error instanceof Error ? error.message : String(error);
    } catch {
      message = 'unknown error';
    }
    this.end({ ...result, completed: false, error: message });
  }
}
