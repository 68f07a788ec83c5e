/**
 * The sink contract (DESIGN.md section 3). Names follow the Python `rlm-code` seeds in
 * camelCase; files on disk and wire payloads keep the Python field names.
 */
import type { RecordContent } from './content.js';

/**
 * The contract version a sink implements. Sinks declare it as `specificationVersion` so the
 * contract can evolve without breaking third-party sinks (the idea of vercel/ai's
 * `specificationVersion`). A sink without the field is treated as version 1.
 */
export const SINK_SPECIFICATION_VERSION = 'rlm-obs-sink/v1' as const;

/** The discriminant type of {@link SINK_SPECIFICATION_VERSION}. */
export type SinkSpecificationVersion = typeof SINK_SPECIFICATION_VERSION;

/** A JSON value: what every payload handed to a sink is made of after sanitizing. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** The action part of a step event (seed shape). */
export interface StepAction {
  /** The action type, for example `run_python` or `submit`. */
  action?: string;
  /** The code the agent ran, if any. */
  code?: string;
  /** Why the agent chose this action. */
  rationale?: string;
  [key: string]: unknown;
}

/** The observation part of a step event (seed shape). */
export interface StepObservation {
  success?: boolean;
  output?: string;
  error?: string;
  [key: string]: unknown;
}

/**
 * LLM usage reported by a step, named after the OpenTelemetry gen_ai semantic conventions.
 */
export interface StepUsage {
  model?: string;
  provider?: string;
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
  /** Cost in US dollars, when the caller knows it. */
  costUsd?: number;
  [key: string]: unknown;
}

/** Cache information for a step. */
export interface StepCache {
  status?: 'hit' | 'miss' | 'write';
  key?: string;
  [key: string]: unknown;
}

/**
 * One step of a run, as the runtime reports it (the seed's `event` dict). Unknown keys are
 * kept and reach every sink.
 */
export interface StepEvent {
  step?: number;
  action?: StepAction;
  observation?: StepObservation;
  reward?: number;
  /** When the step started (epoch milliseconds or an ISO string), for real span durations. */
  startedAt?: number | string;
  /** How long the step took, in milliseconds. */
  durationMs?: number;
  usage?: StepUsage | StepUsage[];
  cache?: StepCache;
  attributes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What `onRunStart` receives. */
export interface RunStart {
  task: string;
  environment: string;
  params: Record<string, unknown>;
  /** The run that spawned this one (nested and recursive runs). */
  parentRunId?: string;
  /** A W3C `traceparent` from a remote parent (cross-process runs). */
  traceparent?: string;
  /** Custom attributes: the config's global attributes merged with the run's own. */
  attributes?: Record<string, unknown>;
  /** When the run started, as an ISO string. The coordinator fills it in. */
  startedAt?: string;
  /** The conversation or session the run belongs to; child runs inherit it. */
  sessionId?: string;
  /** The end user the run works for; child runs inherit it. */
  userId?: string;
  /** Labels to filter by; child runs inherit them. */
  tags?: string[];
  /**
   * What the run withholds from sinks that are not local (`recordContent: false`, the run's
   * own, inherited or the coordinator's). Given only to local sinks and only when the run
   * withholds anything, resolved (`{ inputs, outputs }`), so what they keep can be replayed
   * with the same content withheld; a replay passes it back in.
   */
  recordContent?: RecordContent;
}

/**
 * A score or a piece of feedback on a run (or one of its steps): `run.score()`,
 * `run.feedback()`, and the seed's end-of-run `reward` and `completed` scores, which the
 * coordinator sends through this same hook just before `onRunEnd`.
 */
export interface ScoreRecord {
  /** For example `reward`, `completed`, `correctness`, `thumbs`. */
  name: string;
  value: number | string | boolean;
  /** `score` (an evaluation) or `feedback` (from a user or a reviewer). */
  kind: 'score' | 'feedback';
  comment?: string;
  /** The step the score is about, if any. */
  step?: number;
  /** Who gave it: `rlm-obs` for the end-of-run scores, else what the caller says. */
  source?: string;
  /** When it was given (ISO 8601). The coordinator fills it in. */
  at: string;
}

/** What `onStep` receives. */
export interface StepRecord {
  event: StepEvent;
  cumulativeReward: number;
}

/** The result of a run (the seed's `result` object, camelCase). */
export interface RunResult {
  completed?: boolean;
  steps?: number;
  totalReward?: number;
  finalAnswer?: string;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  [key: string]: unknown;
}

/** What `onRunEnd` receives. */
export interface RunEnd {
  result: RunResult;
  /** Where the run's artifacts live (the seed's `run_path`), if anywhere. */
  runPath?: string;
}

/**
 * A sink's self-description for CLIs and health checks: the seed's
 * `{name, enabled, available, detail}` plus whatever the sink adds (for example
 * `service_name`). `detail` never contains a secret.
 */
export interface SinkStatus {
  name: string;
  enabled: boolean;
  available: boolean;
  detail: string;
  [key: string]: unknown;
}

/**
 * The sink contract. Hooks are called synchronously, in order, and must be cheap: do I/O
 * asynchronously, batch it, and finish it in `forceFlush()`/`shutdown()`. A hook may return a
 * promise; the coordinator then holds later events for this sink until it settles, so order
 * per sink is kept without blocking the caller.
 *
 * Payloads are snapshots owned by the coordinator: they are never mutated after delivery, so
 * a sink may keep references to them, and a sink must not mutate them.
 *
 * @example
 * ```ts
 * const sink: RLMObservabilitySink = {
 *   name: 'console',
 *   specificationVersion: SINK_SPECIFICATION_VERSION,
 *   status: () => ({ name: 'console', enabled: true, available: true, detail: 'stdout' }),
 *   onRunStart: (runId, start) => console.log('start', runId, start.task),
 *   onStep: (runId, { event }) => console.log('step', runId, event.step),
 *   onRunEnd: (runId, { result }) => console.log('end', runId, result.completed),
 * };
 * ```
 */
export interface RLMObservabilitySink {
  /** Unique among the sinks of one coordinator: `local-jsonl`, `opentelemetry`, ... */
  readonly name: string;
  /** The contract version this sink implements. @defaultValue `'rlm-obs-sink/v1'` */
  readonly specificationVersion?: SinkSpecificationVersion;
  /**
   * The share of runs this sink keeps when the config sets no rate for it by name; `1` makes
   * a sink ignore the global sampling rate (the local files keep every run by default).
   * @defaultValue the global rate
   */
  readonly defaultSamplingRate?: number;
  /** Never throws and never does I/O. */
  status(): SinkStatus;
  onRunStart(runId: string, start: RunStart): void | Promise<void>;
  onStep(runId: string, step: StepRecord): void | Promise<void>;
  onRunEnd(runId: string, end: RunEnd): void | Promise<void>;
  /**
   * A score or feedback (optional: sinks written before it existed keep working and simply
   * don't receive scores). May arrive after the run ended (late user feedback).
   */
  onScore?(runId: string, score: ScoreRecord): void | Promise<void>;
  /**
   * The sink writes only to this machine (the local files). Content switches
   * (`recordContent: false`) keep code, outputs, task text and LLM messages away from every
   * sink that is not local. @defaultValue `false`
   */
  readonly local?: boolean;
  /**
   * Actively checks the backend (reachable, authenticated, writable) for `rlm-obs doctor`.
   * May do I/O; must not throw; problems come with the fix to print.
   */
  check?(): Promise<SinkCheckResult>;
  /** Finish all buffered work. */
  forceFlush?(options?: SinkFinishOptions): Promise<void>;
  /** Finish all buffered work and release resources. Called once. */
  shutdown?(options?: SinkFinishOptions): Promise<void>;
}

/**
 * What the coordinator passes to `forceFlush()`/`shutdown()`: the time left of its one
 * deadline. A sink may ignore it (the coordinator stops waiting at the deadline anyway); a
 * sink that forwards work elsewhere (another thread, a sub-process) passes it on.
 */
export interface SinkFinishOptions {
  /** Milliseconds until the coordinator's deadline. */
  timeoutMs?: number;
}

/** One problem an active check found, with the fix to print. */
export interface SinkProblem {
  problem: string;
  fix: string;
}

/** What a sink's active `check()` found (`rlm-obs doctor`). */
export interface SinkCheckResult {
  /** The backend is usable: reachable, authenticated, writable. */
  ok: boolean;
  problems: SinkProblem[];
  /** What was checked, for display (no secrets). */
  detail?: string;
}

/** The event hooks, by name (`onScore` is optional for sinks). */
export type SinkHook = 'onRunStart' | 'onStep' | 'onRunEnd' | 'onScore';
