/**
 * The lines on disk. The Python `rlm-code` fields keep their names and types, so files from
 * either implementation read the same; the extra fields make every hook's input rebuildable
 * (full fidelity, used by replay).
 *
 * Layout under the base directory:
 * - `runs.jsonl` — one {@link RunLine} per finished run (Python).
 * - `steps/<run_id>.jsonl` — one {@link StepLine} per step (Python).
 * - `starts.jsonl` — one {@link StartLine} per started run (rlm-obs), so runs that crashed
 *   before their end are still known.
 * - `scores.jsonl` — one {@link ScoreLine} per score or feedback (rlm-obs), also the end-of-run
 *   `reward` and `completed` scores (`source: "rlm-obs"`).
 * - `steps/<run_id>~<n>.jsonl` — rotated parts of a big steps file (retention option
 *   `maxStepFileBytes`), oldest first: parts 1..n, then the current `steps/<run_id>.jsonl`.
 */
import type { JsonObject, JsonValue, ScoreRecord } from '@rlm/obs-core';

/** A line of `steps/<run_id>.jsonl`. */
export interface StepLine {
  /** When the line was recorded (ISO 8601). Python. */
  timestamp: string;
  /** Python. */
  run_id: string;
  /** The step number. Python. */
  step: number | null;
  /** The action type (`event.action.action`). Python. */
  action: string | null;
  /** Python. */
  reward: number | null;
  /** Python. */
  cumulative_reward: number;
  /** `event.observation.success`. Python. */
  success: boolean | null;
  /** The whole step event as the sink received it. rlm-obs. */
  event?: JsonObject;
}

/** A line of `starts.jsonl` (rlm-obs only). */
export interface StartLine {
  timestamp: string;
  run_id: string;
  started_at: string;
  task: string;
  environment: string;
  params: JsonObject;
  parent_run_id?: string;
  traceparent?: string;
  attributes?: JsonObject;
  /** The session (conversation) the run belongs to. */
  session_id?: string;
  /** The end user the run works for. */
  user_id?: string;
  /** Labels to filter by. */
  tags?: string[];
  /**
   * What the run withheld from remote sinks (`recordContent`), present only when it withheld
   * something; the line itself keeps the content. `replay` withholds the same again.
   */
  record_content?: { inputs: boolean; outputs: boolean };
  /** The recording process, to tell a crashed run from one still going. */
  pid: number;
}

/** A line of `scores.jsonl` (rlm-obs only): the score as the hook got it, with its run. */
export interface ScoreLine extends ScoreRecord {
  /** When the line was recorded. */
  timestamp: string;
  run_id: string;
}

/** A line of `runs.jsonl`. */
export interface RunLine {
  /** Python fields. */
  timestamp: string;
  run_id: string;
  started_at: string | null;
  finished_at: string | null;
  task: string;
  environment: string;
  params: JsonObject;
  completed: boolean;
  steps: number;
  step_count_observed: number;
  total_reward: number;
  run_path: string;
  /** rlm-obs: the run's parent, for nested runs. */
  parent_run_id?: string;
  /** rlm-obs: session, user and tags, when the sink saw the start in the same process. */
  session_id?: string;
  user_id?: string;
  tags?: string[];
  /** rlm-obs: the whole result object as the sink received it. */
  result?: JsonObject;
}

/** Any value read from a line, before checking. */
export type LineValue = JsonValue;
