/**
 * The SQL views `rlm-obs query` and `rlm-obs view` read, defined over the JSONL files
 * themselves (DuckDB reads them in place; nothing is imported or cached, so a query always
 * sees what was written a moment ago).
 *
 * - `runs` — one row per run, finished or not (`starts.jsonl` joined with `runs.jsonl`, and
 *   runs known only from their step lines, open).
 * - `steps` — one row per step, with timing, code, output, error and LLM usage pulled out.
 * - `llm_calls` — one row per LLM call reported on a step (`usage` may be a list).
 * - `scores` — one row per score or feedback (`scores.jsonl`), the end-of-run `reward` and
 *   `completed` (`source = 'rlm-obs'`) included.
 * - `records` — Logfire-style: one row per span (`rlm.run`, `rlm.step`) and per run log of
 *   seed 000 (`RLM run started`, `RLM run completed` / `RLM run did not complete`, kind
 *   `'log'`), with trace and span ids equal to the ones the OpenTelemetry, Logfire and Langfuse
 *   sinks export, so seed 003's example queries run here with at most a name changed.
 *
 * Files written by the Python `rlm-code` have no `starts.jsonl`, no `scores.jsonl` and no
 * `event` on step lines; the views still work, with those columns NULL (and no scores). The
 * steps glob `steps/*.jsonl` also reads the rotated parts `steps/<run_id>~<n>.jsonl`.
 */

import { sep } from 'node:path';

/** A column of a view, as `--schema` and SQL errors show it. */
export interface ColumnDoc {
  name: string;
  type: string;
  doc: string;
}

/** The views and what each column means (kept next to the SQL that makes them). */
export const VIEW_DOCS: Record<'runs' | 'steps' | 'llm_calls' | 'scores' | 'records', ColumnDoc[]> =
  {
    runs: [
      { name: 'run_id', type: 'VARCHAR', doc: 'the run id' },
      { name: 'parent_run_id', type: 'VARCHAR', doc: 'the run that spawned it (nested runs)' },
      { name: 'root_run_id', type: 'VARCHAR', doc: 'the top of its tree' },
      { name: 'trace_id', type: 'VARCHAR', doc: 'the trace id the OTel sinks export' },
      { name: 'span_id', type: 'VARCHAR', doc: "the run span's id" },
      { name: 'parent_span_id', type: 'VARCHAR', doc: "the parent span's id (nested or remote)" },
      { name: 'task', type: 'VARCHAR', doc: 'the task text' },
      { name: 'environment', type: 'VARCHAR', doc: 'e.g. pure_rlm, dspy' },
      { name: 'params', type: 'JSON', doc: 'the run parameters' },
      { name: 'model', type: 'VARCHAR', doc: "params->>'model'" },
      { name: 'max_steps', type: 'BIGINT', doc: "params->>'max_steps'" },
      { name: 'attributes', type: 'JSON', doc: 'custom attributes given at start' },
      { name: 'session_id', type: 'VARCHAR', doc: 'the session (conversation) of the run' },
      { name: 'user_id', type: 'VARCHAR', doc: 'the end user the run works for' },
      { name: 'tags', type: 'VARCHAR[]', doc: "the run's tags, e.g. list_contains(tags, 'prod')" },
      { name: 'started_at', type: 'TIMESTAMPTZ', doc: 'start' },
      { name: 'finished_at', type: 'TIMESTAMPTZ', doc: 'end (NULL while open or crashed)' },
      { name: 'duration_ms', type: 'DOUBLE', doc: 'finished_at - started_at' },
      { name: 'state', type: 'VARCHAR', doc: "'ended' or 'open' (still running, or crashed)" },
      { name: 'completed', type: 'BOOLEAN', doc: 'the run completed its task' },
      { name: 'steps', type: 'BIGINT', doc: 'steps the run reported' },
      { name: 'step_count_observed', type: 'BIGINT', doc: 'steps the sink saw' },
      { name: 'total_reward', type: 'DOUBLE', doc: 'cumulative reward' },
      { name: 'final_answer', type: 'VARCHAR', doc: 'the final answer' },
      { name: 'run_path', type: 'VARCHAR', doc: "the run's path (Python field)" },
    ],
    steps: [
      { name: 'run_id', type: 'VARCHAR', doc: 'the run' },
      { name: 'step', type: 'BIGINT', doc: 'the step number' },
      { name: 'action', type: 'VARCHAR', doc: 'the action type (e.g. run_python, final)' },
      { name: 'reward', type: 'DOUBLE', doc: "the step's reward" },
      { name: 'cumulative_reward', type: 'DOUBLE', doc: 'reward so far' },
      { name: 'success', type: 'BOOLEAN', doc: 'the observation succeeded' },
      { name: 'started_at', type: 'TIMESTAMPTZ', doc: "the step's start" },
      { name: 'ended_at', type: 'TIMESTAMPTZ', doc: "the step's end" },
      { name: 'duration_ms', type: 'DOUBLE', doc: 'ended_at - started_at' },
      { name: 'recorded_at', type: 'TIMESTAMPTZ', doc: 'when the line was written' },
      { name: 'code', type: 'VARCHAR', doc: "the action's code" },
      { name: 'rationale', type: 'VARCHAR', doc: "the action's rationale" },
      { name: 'output', type: 'VARCHAR', doc: "the observation's output" },
      { name: 'error', type: 'VARCHAR', doc: "the observation's error" },
      { name: 'model', type: 'VARCHAR', doc: 'the (first) model called in the step' },
      { name: 'input_tokens', type: 'DOUBLE', doc: 'summed over the LLM calls of the step' },
      { name: 'output_tokens', type: 'DOUBLE', doc: 'summed over the LLM calls of the step' },
      { name: 'cost_usd', type: 'DOUBLE', doc: 'summed caller-supplied cost, NULL when none' },
      { name: 'cache_status', type: 'VARCHAR', doc: "cache.status (e.g. 'hit', 'miss')" },
      { name: 'environment', type: 'VARCHAR', doc: "the run's environment" },
      { name: 'event', type: 'JSON', doc: 'the whole step event (rlm-obs files only)' },
    ],
    llm_calls: [
      { name: 'run_id', type: 'VARCHAR', doc: 'the run' },
      { name: 'step', type: 'BIGINT', doc: 'the step' },
      { name: 'call', type: 'BIGINT', doc: 'index of the call within the step (1-based)' },
      { name: 'started_at', type: 'TIMESTAMPTZ', doc: "the step's start" },
      { name: 'model', type: 'VARCHAR', doc: 'the model' },
      { name: 'provider', type: 'VARCHAR', doc: 'the provider' },
      { name: 'input_tokens', type: 'DOUBLE', doc: 'prompt tokens' },
      { name: 'output_tokens', type: 'DOUBLE', doc: 'completion tokens' },
      { name: 'cache_read_tokens', type: 'DOUBLE', doc: 'prompt tokens read from cache' },
      { name: 'cache_write_tokens', type: 'DOUBLE', doc: 'prompt tokens written to cache' },
      { name: 'reasoning_tokens', type: 'DOUBLE', doc: 'reasoning tokens' },
      { name: 'cost_usd', type: 'DOUBLE', doc: 'caller-supplied cost, NULL when none' },
      { name: 'environment', type: 'VARCHAR', doc: "the run's environment" },
    ],
    scores: [
      { name: 'run_id', type: 'VARCHAR', doc: 'the run' },
      { name: 'name', type: 'VARCHAR', doc: "e.g. 'reward', 'completed', 'correctness', 'thumbs'" },
      { name: 'value', type: 'VARCHAR', doc: "the value as text ('0.8', 'true', 'down')" },
      {
        name: 'value_number',
        type: 'DOUBLE',
        doc: 'numbers as they are, booleans as 1/0, NULL for text',
      },
      { name: 'kind', type: 'VARCHAR', doc: "'score' or 'feedback'" },
      { name: 'comment', type: 'VARCHAR', doc: 'the comment, if any' },
      { name: 'step', type: 'BIGINT', doc: 'the step it is about, if any' },
      { name: 'source', type: 'VARCHAR', doc: "who gave it; 'rlm-obs' for reward and completed" },
      { name: 'scored_at', type: 'TIMESTAMPTZ', doc: 'when it was given' },
    ],
    records: [
      { name: 'trace_id', type: 'VARCHAR', doc: '32 hex, as exported by the OTel sinks' },
      { name: 'span_id', type: 'VARCHAR', doc: '16 hex' },
      { name: 'parent_span_id', type: 'VARCHAR', doc: '16 hex, NULL for a root span' },
      {
        name: 'span_name',
        type: 'VARCHAR',
        doc: "'rlm.run', 'rlm.step', or a log's message template ('RLM run started', …)",
      },
      { name: 'message', type: 'VARCHAR', doc: "e.g. 'rlm.run <id>', 'RLM step 3 failed'" },
      {
        name: 'kind',
        type: 'VARCHAR',
        doc: "'span', or 'log' for the run logs of seed 000 (as the Logfire sink sends them)",
      },
      {
        name: 'level',
        type: 'VARCHAR',
        doc: "'info'; 'error' for a failed step or run span; 'warn' for 'RLM run did not complete'",
      },
      { name: 'start_timestamp', type: 'TIMESTAMPTZ', doc: 'start' },
      { name: 'end_timestamp', type: 'TIMESTAMPTZ', doc: 'end' },
      { name: 'duration', type: 'DOUBLE', doc: 'seconds, as in Logfire' },
      {
        name: 'attributes',
        type: 'JSON',
        doc: "seed 004's rlm.* and gen_ai.* attributes; the cost in USD as 'operation.cost' (Logfire's name) and 'gen_ai.usage.cost'",
      },
      { name: 'is_exception', type: 'BOOLEAN', doc: 'a failed step' },
      {
        name: 'otel_status_code',
        type: 'VARCHAR',
        doc: "'OK', 'ERROR' or 'UNSET' (an open run, a log); a step is 'OK' only when it reported success = true, as the OTel sink exports it",
      },
      { name: 'otel_status_message', type: 'VARCHAR', doc: 'the error, or "Run did not complete"' },
      { name: 'otel_scope_name', type: 'VARCHAR', doc: "'rlm-obs'" },
      { name: 'service_name', type: 'VARCHAR', doc: "'rlm-code'" },
      { name: 'run_id', type: 'VARCHAR', doc: 'the run' },
      { name: 'environment', type: 'VARCHAR', doc: "the run's environment" },
    ],
  };

/** Which of the files exist; a missing one becomes an empty relation of the same shape. */
export interface SourceFiles {
  starts: boolean;
  ends: boolean;
  steps: boolean;
  scores: boolean;
  /**
   * Step files (names under `steps/`) of runs that neither starts.jsonl nor runs.jsonl names
   * (a Python `rlm-code` run that crashed, or a run whose start line was lost): the runs whose
   * ids their lines carry become open runs in `runs`. Only these files are read for that, so
   * `runs` does not read every step. @defaultValue `[]`
   */
  stepOnlyFiles?: string[];
  /**
   * Some run was started more than once in these files (starts.jsonl has its id twice): a
   * replay into this directory, whose step and score lines are then repeated too. Only then
   * do the steps and scores views de-duplicate — a window over every step line costs ~20% of
   * a query over a million steps. @defaultValue `false`
   */
  repeatedRuns?: boolean;
}

/**
 * A query of the run ids named in starts.jsonl or runs.jsonl (those present), each with how
 * many lines of starts.jsonl name it (more than one: a replay into this directory).
 */
export function knownRunsQuery(dir: string, files: { starts: boolean; ends: boolean }): string {
  const base = dir.replace(/\/+$/, '');
  const ids = { run_id: 'VARCHAR' };
  const starts = jsonSource(base, 'starts.jsonl', ids, files.starts);
  const ends = jsonSource(base, 'runs.jsonl', ids, files.ends);
  return `SELECT run_id, sum(started)::BIGINT AS starts FROM (
    SELECT run_id, 1 AS started FROM ${starts} UNION ALL SELECT run_id, 0 FROM ${ends})
    WHERE run_id IS NOT NULL GROUP BY run_id`;
}

const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * DuckDB takes every path given to `read_json` as a glob pattern, so a directory named
 * `br[ack]et`, `g*` or `q?` would match nothing, or its siblings too. Its glob has no escape
 * character, but a one-character class matches the character literally: `[*]`, `[?]`, `[[]`,
 * `[]]` (and `{`, `}` likewise, harmless if braces are ever expanded). A backslash cannot be
 * matched at all once a pattern has a glob in it (DuckDB splits paths at it), so on POSIX it
 * becomes `?` and the rows are then filtered by their exact file name (see jsonSource).
 */
export function globLiteral(text: string): string {
  const special = sep === '/' ? /[*?[\]{}\\]/g : /[*?[\]{}]/g;
  return text.replace(special, (c) => (c === '\\' ? '?' : `[${c}]`));
}

/**
 * `read_json` of `<dir>/<name>` (`name` may be a pattern, `steps/*.jsonl`), or of the files
 * `<dir>/<name>` for each literal name of a list; `dir` is literal.
 */
function jsonSource(
  dir: string,
  name: string | string[],
  columns: Record<string, string>,
  present: boolean,
): string {
  const list = Object.entries(columns);
  if (!present || (Array.isArray(name) && name.length === 0)) {
    return `(SELECT ${list.map(([name, type]) => `NULL::${type} AS "${name}"`).join(', ')} WHERE false)`;
  }
  // Quoted: some field names (`at`) are SQL keywords.
  const spec = list.map(([name, type]) => `"${name}": '${type}'`).join(', ');
  const names = Array.isArray(name) ? name : undefined;
  const inexact =
    sep === '/' && (dir.includes('\\') || (names?.some((n) => n.includes('\\')) ?? false));
  const paths = names
    ? `[${names.map((n) => quote(`${globLiteral(dir)}/${globLiteral(n)}`)).join(', ')}]`
    : quote(`${globLiteral(dir)}/${name}`);
  // ignore_errors: a line torn by a crash mid-write must not make every query fail.
  const read = `read_json(${paths}, format = 'newline_delimited', ignore_errors = true, columns = {${spec}}${inexact ? ', filename = true' : ''})`;
  if (!inexact) return read;
  // A backslash became `?`: keep only the files under the directory itself (the named ones).
  const keep = names
    ? `filename IN (${names.map((n) => quote(`${dir}/${n}`)).join(', ')})`
    : `starts_with(filename, ${quote(`${dir}/`)})`;
  return `(SELECT * EXCLUDE (filename) FROM ${read} WHERE ${keep})`;
}

const STARTS = {
  timestamp: 'VARCHAR',
  run_id: 'VARCHAR',
  started_at: 'VARCHAR',
  task: 'VARCHAR',
  environment: 'VARCHAR',
  params: 'JSON',
  parent_run_id: 'VARCHAR',
  traceparent: 'VARCHAR',
  attributes: 'JSON',
  session_id: 'VARCHAR',
  user_id: 'VARCHAR',
  tags: 'VARCHAR[]',
  pid: 'BIGINT',
};
const ENDS = {
  timestamp: 'VARCHAR',
  run_id: 'VARCHAR',
  started_at: 'VARCHAR',
  finished_at: 'VARCHAR',
  task: 'VARCHAR',
  environment: 'VARCHAR',
  params: 'JSON',
  completed: 'BOOLEAN',
  steps: 'BIGINT',
  step_count_observed: 'BIGINT',
  total_reward: 'DOUBLE',
  run_path: 'VARCHAR',
  parent_run_id: 'VARCHAR',
  session_id: 'VARCHAR',
  user_id: 'VARCHAR',
  tags: 'VARCHAR[]',
  result: 'JSON',
};
const SCORE_LINES = {
  timestamp: 'VARCHAR',
  run_id: 'VARCHAR',
  name: 'VARCHAR',
  value: 'JSON',
  kind: 'VARCHAR',
  comment: 'VARCHAR',
  step: 'BIGINT',
  source: 'VARCHAR',
  at: 'VARCHAR',
};
const STEP_LINES = {
  timestamp: 'VARCHAR',
  run_id: 'VARCHAR',
  step: 'BIGINT',
  action: 'VARCHAR',
  reward: 'DOUBLE',
  cumulative_reward: 'DOUBLE',
  success: 'BOOLEAN',
  event: 'JSON',
};

/**
 * Macros. `rlm_span_id` reproduces `spanIdFromRunId(runId, step)` of `@rlm/obs-core` (SHA-256
 * of the run id, the step mixed in with murmur3's 32-bit finaliser) so span ids here match
 * the ones the OTel sinks exported; a test checks them against the TypeScript function.
 * Each value goes through a one-element list and lambdas, so that DuckDB computes it once
 * instead of inlining the expression at every use (which grows exponentially here).
 */
const MACROS = `
CREATE OR REPLACE MACRO rlm_u32(x) AS (x::UBIGINT % 4294967296::UBIGINT);
CREATE OR REPLACE MACRO rlm_fmix32(x) AS list_transform(list_transform(list_transform(list_transform(list_transform(
  [rlm_u32(x)],
  lambda h: xor(h, h >> 16)),
  lambda h: (h * 2246822507::UBIGINT) % 4294967296::UBIGINT),
  lambda h: xor(h, h >> 13)),
  lambda h: (h * 3266489909::UBIGINT) % 4294967296::UBIGINT),
  lambda h: xor(h, h >> 16))[1];
CREATE OR REPLACE MACRO rlm_hex8(x) AS printf('%08x', x);
CREATE OR REPLACE MACRO rlm_trace_id(run_id) AS substr(sha256('rlm-obs:trace:' || run_id), 1, 32);
CREATE OR REPLACE MACRO rlm_run_hi(run_id) AS ('0x' || substr(sha256('rlm-obs:run:' || run_id), 1, 8))::UBIGINT;
CREATE OR REPLACE MACRO rlm_run_lo(run_id) AS ('0x' || substr(sha256('rlm-obs:run:' || run_id), 9, 8))::UBIGINT;
CREATE OR REPLACE MACRO rlm_step_a(hi, n) AS rlm_fmix32(xor(hi, rlm_fmix32(n::UBIGINT + 2654435769::UBIGINT)));
CREATE OR REPLACE MACRO rlm_step_b(lo, a, n) AS
  rlm_fmix32(xor(xor(lo, rlm_fmix32(a + n::UBIGINT + 2135587861::UBIGINT)), (n::UBIGINT // 4294967296::UBIGINT) % 4294967296::UBIGINT));
CREATE OR REPLACE MACRO rlm_num(j, key) AS TRY_CAST(json_extract_string(j, key) AS DOUBLE);
CREATE OR REPLACE MACRO rlm_usage_list(event) AS CASE json_type(event, '$.usage')
  WHEN 'ARRAY' THEN json_extract(event, '$.usage[*]')
  WHEN 'OBJECT' THEN [json_extract(event, '$.usage')]
  ELSE []::JSON[] END;
CREATE OR REPLACE MACRO rlm_input_tokens(u) AS greatest(coalesce(
  rlm_num(u, 'inputTokens') + CASE WHEN contains(u, 'InputTokens') THEN coalesce(rlm_num(u, 'cacheReadInputTokens'), 0) + coalesce(rlm_num(u, 'cacheWriteInputTokens'), 0) ELSE 0 END,
  coalesce(rlm_num(u, 'input_tokens'), rlm_num(u, 'prompt_tokens'), rlm_num(u, 'promptTokens'), rlm_num(u, 'gen_ai.usage.input_tokens'), rlm_num(u, 'promptTokenCount'))
    + coalesce(rlm_num(u, 'cache_read_input_tokens'), rlm_num(u, 'cacheReadInputTokens'), 0) + coalesce(rlm_num(u, 'cache_creation_input_tokens'), rlm_num(u, 'cacheWriteInputTokens'), 0) + coalesce(rlm_num(u, 'toolUsePromptTokenCount'), 0),
  0), 0);
CREATE OR REPLACE MACRO rlm_output_tokens(u) AS greatest(coalesce(rlm_num(u, 'outputTokens'), rlm_num(u, 'output_tokens'), rlm_num(u, 'completion_tokens'), rlm_num(u, 'completionTokens'), rlm_num(u, 'gen_ai.usage.output_tokens'), rlm_num(u, 'candidatesTokenCount') + coalesce(rlm_num(u, 'thoughtsTokenCount'), 0), 0), 0);
CREATE OR REPLACE MACRO rlm_cost(u) AS coalesce(rlm_num(u, 'costUsd'), rlm_num(u, 'cost_usd'), rlm_num(u, 'cost'), rlm_num(u, 'total_cost'));
CREATE OR REPLACE MACRO rlm_untimed(event) AS json_merge_patch(event, '{"startedAt":null,"durationMs":null}');
CREATE OR REPLACE MACRO rlm_model(u) AS coalesce(json_extract_string(u, 'model'), json_extract_string(u, 'gen_ai.request.model'), json_extract_string(u, 'model_name'));
CREATE OR REPLACE MACRO rlm_time(t) AS CASE json_type(t)
  WHEN 'VARCHAR' THEN TRY_CAST(json_extract_string(t, '$') AS TIMESTAMPTZ)
  WHEN 'UBIGINT' THEN to_timestamp(TRY_CAST(t AS DOUBLE) / 1000)
  WHEN 'BIGINT' THEN to_timestamp(TRY_CAST(t AS DOUBLE) / 1000)
  WHEN 'DOUBLE' THEN to_timestamp(TRY_CAST(t AS DOUBLE) / 1000)
  ELSE NULL END;
`;

/**
 * The number `spanIdFromRunId(runId, key)` (core's ids) mixes in for a string key: FNV-1a.
 * The query test checks the ids against that function.
 */
function keyNumber(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
/** The Logfire sink's `spanIdFromRunId(id, 'start')` and `(id, 'end')` for its run logs. */
const START_KEY = keyNumber('start');
const END_KEY = keyNumber('end');
/** SQL for the span id of a run's log, from the run's hash halves in `alias.hi`/`alias.lo`. */
function logSpanId(alias: string, n: number): string {
  const a = `rlm_step_a(${alias}.hi, ${n})`;
  return `rlm_hex8(${a}) || rlm_hex8(rlm_step_b(${alias}.lo, ${a}, ${n}))`;
}

/** The statements that create the views over the JSONL directory `dir`. */
export function viewStatements(dir: string, files: SourceFiles): string[] {
  const base = dir.replace(/\/+$/, '');
  const starts = jsonSource(base, 'starts.jsonl', STARTS, files.starts);
  const ends = jsonSource(base, 'runs.jsonl', ENDS, files.ends);
  // The glob also reads rotated parts (steps/<run_id>~<n>.jsonl): every line names its run.
  const stepLines = jsonSource(base, 'steps/*.jsonl', STEP_LINES, files.steps);
  const scoreLines = jsonSource(base, 'scores.jsonl', SCORE_LINES, files.scores);
  const stepOnlyFiles = files.steps ? (files.stepOnlyFiles ?? []) : [];
  return [
    ...MACROS.split(/;\s*\n/)
      .map((s) => s.trim())
      .filter(Boolean),
    // The latest line wins when a run id was recorded twice (a replay into the same directory).
    // A line torn by a crash mid-write reads as a row of NULLs: it names no run.
    `CREATE OR REPLACE VIEW rlm_starts AS SELECT * FROM ${starts} WHERE run_id IS NOT NULL
       QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY timestamp DESC) = 1`,
    `CREATE OR REPLACE VIEW rlm_ends AS SELECT * FROM ${ends} WHERE run_id IS NOT NULL
       QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY timestamp DESC) = 1`,
    // A step line repeated with only its timestamp new (a replay into a directory that already
    // had the run; only then, see SourceFiles.repeatedRuns) counts once, the latest kept, as in
    // the reader (@rlm/sink-jsonl readRun):
    // the same run, step number, cumulative reward and whole event. A reused step number with
    // a different event stays two steps; Python lines (no event) are never merged. The event
    // is compared by its 64-bit hash (a plain window over the text costs a third more), without
    // its timing: replay adds `startedAt` and `durationMs` to a step recorded without them, and
    // a step that differs only in those is the same step.
    `CREATE OR REPLACE VIEW rlm_step_lines AS SELECT * FROM ${stepLines}
       WHERE run_id IS NOT NULL${
         files.repeatedRuns
           ? `
       QUALIFY event IS NULL OR row_number() OVER (
         PARTITION BY run_id, step, cumulative_reward, hash(rlm_untimed(event)) ORDER BY timestamp DESC) = 1`
           : ''
       }`,
    `CREATE OR REPLACE VIEW rlm_run_base AS
     SELECT coalesce(s.run_id, e.run_id) AS run_id,
            coalesce(s.parent_run_id, e.parent_run_id) AS parent_run_id,
            s.traceparent,
            coalesce(s.task, e.task) AS task,
            coalesce(s.environment, e.environment) AS environment,
            coalesce(s.params, e.params) AS params,
            s.attributes,
            coalesce(s.session_id, e.session_id) AS session_id,
            coalesce(s.user_id, e.user_id) AS user_id,
            coalesce(s.tags, e.tags) AS tags,
            TRY_CAST(coalesce(e.started_at, s.started_at) AS TIMESTAMPTZ) AS started_at,
            TRY_CAST(e.finished_at AS TIMESTAMPTZ) AS finished_at,
            e.completed, e.steps, e.step_count_observed, e.total_reward, e.run_path,
            json_extract_string(e.result, 'finalAnswer') AS final_answer,
            CASE WHEN e.run_id IS NULL THEN 'open' ELSE 'ended' END AS state
     FROM rlm_starts s FULL OUTER JOIN rlm_ends e ON s.run_id = e.run_id`,
    // Every run: those above, and (only when some steps file belongs to none of them) the runs
    // known only from their step lines (a Python run that crashed), open, started at their
    // first step. The steps view joins rlm_run_base alone, so a query over steps never reads
    // step files twice.
    stepOnlyFiles.length === 0
      ? 'CREATE OR REPLACE VIEW rlm_runs AS SELECT * FROM rlm_run_base'
      : `CREATE OR REPLACE VIEW rlm_runs AS
     SELECT * FROM rlm_run_base
     UNION ALL BY NAME
     SELECT run_id,
            min(least(rlm_time(json_extract(event, 'startedAt')), TRY_CAST("timestamp" AS TIMESTAMPTZ))) AS started_at,
            'open' AS state
     FROM ${jsonSource(`${base}/steps`, stepOnlyFiles, STEP_LINES, true)}
     WHERE run_id IS NOT NULL AND run_id NOT IN (SELECT run_id FROM rlm_run_base)
     GROUP BY run_id`,
    // Each run's root (walking parent_run_id), and the nearest traceparent on the way up (a
    // nested run's own, or a remote parent's), which decides the trace.
    `CREATE OR REPLACE VIEW rlm_run_roots AS
     WITH RECURSIVE walk(run_id, ancestor, depth) AS (
       SELECT run_id, run_id, 0 FROM rlm_runs
       UNION ALL
       SELECT w.run_id, b.parent_run_id, w.depth + 1
       FROM walk w JOIN rlm_runs b ON b.run_id = w.ancestor
       WHERE b.parent_run_id IS NOT NULL AND w.depth < 64
     )
     SELECT w.run_id, arg_max(w.ancestor, w.depth) AS root_run_id,
            arg_min(a.traceparent, w.depth) FILTER (WHERE a.traceparent IS NOT NULL) AS traceparent
     FROM walk w LEFT JOIN rlm_runs a ON a.run_id = w.ancestor
     GROUP BY w.run_id`,
    `CREATE OR REPLACE VIEW runs AS
     SELECT b.run_id, b.parent_run_id, r.root_run_id,
            coalesce(substr(r.traceparent, 4, 32), rlm_trace_id(r.root_run_id)) AS trace_id,
            rlm_hex8(rlm_run_hi(b.run_id)) || rlm_hex8(rlm_run_lo(b.run_id)) AS span_id,
            CASE WHEN b.traceparent IS NOT NULL THEN substr(b.traceparent, 37, 16)
                 WHEN b.parent_run_id IS NOT NULL
                 THEN rlm_hex8(rlm_run_hi(b.parent_run_id)) || rlm_hex8(rlm_run_lo(b.parent_run_id))
            END AS parent_span_id,
            b.task, b.environment, b.params,
            json_extract_string(b.params, 'model') AS model,
            TRY_CAST(json_extract_string(b.params, 'max_steps') AS BIGINT) AS max_steps,
            b.attributes, b.session_id, b.user_id, b.tags, b.started_at, b.finished_at,
            epoch_ms(b.finished_at) - epoch_ms(b.started_at) AS duration_ms,
            b.state, b.completed, b.steps, b.step_count_observed, b.total_reward, b.final_answer,
            b.run_path
     FROM rlm_runs b LEFT JOIN rlm_run_roots r ON r.run_id = b.run_id`,
    `CREATE OR REPLACE VIEW steps AS
     WITH l AS (
       SELECT l.*, rlm_usage_list(l.event) AS usage_list,
              TRY_CAST(l.timestamp AS TIMESTAMPTZ) AS recorded_at,
              rlm_time(json_extract(l.event, 'startedAt')) AS given_start,
              rlm_num(l.event, 'durationMs') AS given_duration
       FROM rlm_step_lines l
     ), timed AS (
       SELECT l.*, b.environment,
              CASE WHEN given_start IS NOT NULL AND given_duration IS NOT NULL
                   THEN given_start + to_microseconds((given_duration * 1000)::BIGINT)
                   ELSE recorded_at END AS end_time,
              b.started_at AS run_start
       FROM l LEFT JOIN rlm_run_base b ON b.run_id = l.run_id
     )
     SELECT run_id, step, action, reward, cumulative_reward, success,
            coalesce(given_start,
                     lag(end_time) OVER (PARTITION BY run_id ORDER BY step),
                     least(run_start, end_time), end_time) AS started_at,
            end_time AS ended_at,
            epoch_ms(end_time) - epoch_ms(started_at) AS duration_ms,
            recorded_at,
            json_extract_string(event, '$.action.code') AS code,
            json_extract_string(event, '$.action.rationale') AS rationale,
            json_extract_string(event, '$.observation.output') AS output,
            json_extract_string(event, '$.observation.error') AS error,
            rlm_model(usage_list[1]) AS model,
            CASE WHEN len(usage_list) > 0
                 THEN list_sum(list_transform(usage_list, lambda u: rlm_input_tokens(u))) END AS input_tokens,
            CASE WHEN len(usage_list) > 0
                 THEN list_sum(list_transform(usage_list, lambda u: rlm_output_tokens(u))) END AS output_tokens,
            list_sum(list_transform(usage_list, lambda u: rlm_cost(u))) AS cost_usd,
            json_extract_string(event, '$.cache.status') AS cache_status,
            environment, event
     FROM timed`,
    `CREATE OR REPLACE VIEW llm_calls AS
     WITH u AS (
       SELECT s.run_id, s.step, s.started_at, s.environment,
              unnest(rlm_usage_list(s.event)) AS u,
              generate_subscripts(rlm_usage_list(s.event), 1) AS call
       FROM steps s
     )
     SELECT run_id, step, call, started_at, rlm_model(u) AS model,
            coalesce(json_extract_string(u, 'provider'), json_extract_string(u, 'gen_ai.system')) AS provider,
            rlm_input_tokens(u) AS input_tokens, rlm_output_tokens(u) AS output_tokens,
            coalesce(rlm_num(u, 'cache_read_input_tokens'), rlm_num(u, 'cacheReadInputTokens'), rlm_num(u, 'cacheReadTokens'), rlm_num(u, 'cache_read_tokens'), rlm_num(u, 'cachedInputTokens'), rlm_num(u, 'gen_ai.usage.cache_read.input_tokens'), rlm_num(u, 'cachedContentTokenCount'), rlm_num(u, '$.prompt_tokens_details.cached_tokens'), rlm_num(u, '$.input_tokens_details.cached_tokens'), rlm_num(u, '$.input_token_details.cache_read'), 0) AS cache_read_tokens,
            coalesce(rlm_num(u, 'cache_creation_input_tokens'), rlm_num(u, 'cacheWriteInputTokens'), rlm_num(u, 'cacheWriteTokens'), rlm_num(u, 'cache_write_tokens'), rlm_num(u, 'gen_ai.usage.cache_creation.input_tokens'), rlm_num(u, '$.prompt_tokens_details.cache_write_tokens'), rlm_num(u, '$.input_tokens_details.cache_write_tokens'), rlm_num(u, '$.input_token_details.cache_creation'), 0) AS cache_write_tokens,
            coalesce(rlm_num(u, 'reasoningTokens'), rlm_num(u, 'reasoning_tokens'), rlm_num(u, 'thoughtsTokenCount'), rlm_num(u, '$.completion_tokens_details.reasoning_tokens'), rlm_num(u, '$.output_tokens_details.reasoning_tokens'), rlm_num(u, '$.output_tokens_details.thinking_tokens'), rlm_num(u, '$.output_token_details.reasoning'), 0) AS reasoning_tokens,
            rlm_cost(u) AS cost_usd, environment
     FROM u`,
    `CREATE OR REPLACE VIEW scores AS
     SELECT run_id, name,
            CASE json_type(value) WHEN 'VARCHAR' THEN json_extract_string(value, '$')
                 ELSE value::VARCHAR END AS value,
            CASE json_type(value)
                 WHEN 'BOOLEAN' THEN CASE WHEN value::VARCHAR = 'true' THEN 1.0 ELSE 0.0 END
                 WHEN 'VARCHAR' THEN NULL
                 ELSE TRY_CAST(value::VARCHAR AS DOUBLE) END AS value_number,
            kind, comment, step, source,
            coalesce(TRY_CAST("at" AS TIMESTAMPTZ), TRY_CAST("timestamp" AS TIMESTAMPTZ)) AS scored_at
     FROM ${scoreLines}
     WHERE run_id IS NOT NULL AND name IS NOT NULL${
       files.repeatedRuns
         ? `
     -- A score line repeated with only its timestamp new (a replay) counts once, as in the reader.
     QUALIFY row_number() OVER (
       PARTITION BY run_id, name, value, kind, comment, step, source, "at" ORDER BY "timestamp" DESC) = 1`
         : ''
     }`,
    `CREATE OR REPLACE VIEW records AS
     WITH usage AS (
       SELECT run_id, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
              sum(cost_usd) AS cost_usd, count(*) AS step_count, max(ended_at) AS last_end
       FROM steps GROUP BY run_id
     ), run_spans AS (
       SELECT r.trace_id, r.span_id, r.parent_span_id, 'rlm.run' AS span_name,
              'rlm.run ' || r.run_id AS message, 'span' AS kind,
              CASE WHEN r.completed = false THEN 'error' ELSE 'info' END AS level,
              r.started_at AS start_timestamp,
              coalesce(r.finished_at, u.last_end, r.started_at) AS end_timestamp,
              json_merge_patch(coalesce(r.attributes, '{}'::JSON), json_object(
                'rlm.run_id', r.run_id, 'rlm.task', left(r.task, 500), 'rlm.environment', r.environment,
                'rlm.max_steps', r.max_steps, 'rlm.model', r.model, 'rlm.parent_run_id', r.parent_run_id,
                'rlm.completed', r.completed, 'rlm.total_steps', r.steps,
                'rlm.total_reward', r.total_reward, 'rlm.run_path', r.run_path,
                'gen_ai.usage.input_tokens', u.input_tokens, 'gen_ai.usage.output_tokens', u.output_tokens,
                'gen_ai.usage.cost', u.cost_usd, 'operation.cost', u.cost_usd)) AS attributes,
              false AS is_exception,
              CASE WHEN r.state = 'open' THEN 'UNSET' WHEN r.completed THEN 'OK' ELSE 'ERROR' END AS otel_status_code,
              CASE WHEN r.state = 'ended' AND NOT r.completed THEN 'Run did not complete' END AS otel_status_message,
              r.run_id, r.environment
       FROM runs r LEFT JOIN usage u ON u.run_id = r.run_id
     ), hashed AS (
       -- One SHA-256 per run, not per step.
       SELECT run_id, trace_id, span_id, rlm_run_hi(run_id) AS hi, rlm_run_lo(run_id) AS lo FROM runs
     ), step_spans AS (
       SELECT r.trace_id,
              rlm_hex8(rlm_step_a(r.hi, s.step))
                || rlm_hex8(rlm_step_b(r.lo, rlm_step_a(r.hi, s.step), s.step)) AS span_id,
              r.span_id AS parent_span_id,
              'rlm.step' AS span_name,
              'RLM step ' || s.step || CASE WHEN s.success = false THEN ' failed' ELSE ' completed' END AS message,
              'span' AS kind,
              CASE WHEN s.success = false THEN 'error' ELSE 'info' END AS level,
              s.started_at AS start_timestamp, s.ended_at AS end_timestamp,
              json_object('rlm.run_id', s.run_id, 'rlm.step', s.step, 'rlm.action_type', s.action,
                'rlm.reward', s.reward, 'rlm.cumulative_reward', s.cumulative_reward,
                'rlm.success', s.success, 'gen_ai.request.model', s.model,
                'gen_ai.usage.input_tokens', s.input_tokens, 'gen_ai.usage.output_tokens', s.output_tokens,
                'gen_ai.usage.cost', s.cost_usd, 'operation.cost', s.cost_usd,
                'rlm.cache.status', s.cache_status) AS attributes,
              coalesce(s.success = false, false) AS is_exception,
              -- As the OTel sink sets it: OK only for a step that reported success = true.
              CASE WHEN s.success THEN 'OK' ELSE 'ERROR' END AS otel_status_code,
              CASE WHEN s.success IS DISTINCT FROM true THEN left(s.error, 200) END AS otel_status_message,
              s.run_id, s.environment
       FROM steps s LEFT JOIN hashed r ON r.run_id = s.run_id
     ), run_logs AS (
       -- Seed 000's run logs, with the span ids the Logfire sink gives them.
       SELECT h.trace_id, ${logSpanId('h', START_KEY)} AS span_id, h.span_id AS parent_span_id,
              'RLM run started' AS span_name, 'RLM run started' AS message, 'log' AS kind,
              'info' AS level, r.started_at AS start_timestamp, r.started_at AS end_timestamp,
              json_object('run_id', r.run_id, 'environment', r.environment) AS attributes,
              false AS is_exception, 'UNSET' AS otel_status_code,
              NULL::VARCHAR AS otel_status_message, r.run_id, r.environment
       FROM runs r JOIN hashed h ON h.run_id = r.run_id
       WHERE r.started_at IS NOT NULL
       UNION ALL
       SELECT h.trace_id, ${logSpanId('h', END_KEY)}, h.span_id,
              CASE WHEN r.completed THEN 'RLM run completed' ELSE 'RLM run did not complete' END,
              CASE WHEN r.completed THEN 'RLM run completed' ELSE 'RLM run did not complete' END,
              'log', CASE WHEN r.completed THEN 'info' ELSE 'warn' END,
              r.finished_at, r.finished_at,
              json_object('run_id', r.run_id, 'steps', coalesce(r.steps, 0),
                'total_reward', coalesce(r.total_reward, 0)),
              false, 'UNSET', NULL::VARCHAR, r.run_id, r.environment
       FROM runs r JOIN hashed h ON h.run_id = r.run_id
       WHERE r.state = 'ended' AND r.finished_at IS NOT NULL
     )
     SELECT trace_id, span_id, parent_span_id, span_name, message, kind, level,
            start_timestamp, end_timestamp,
            (epoch_ms(end_timestamp) - epoch_ms(start_timestamp)) / 1000.0 AS duration,
            attributes, is_exception, otel_status_code, otel_status_message,
            'rlm-obs' AS otel_scope_name, 'rlm-code' AS service_name, run_id, environment
     FROM (SELECT * FROM run_spans UNION ALL SELECT * FROM step_spans
           UNION ALL SELECT * FROM run_logs)`,
  ];
}
