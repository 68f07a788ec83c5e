/**
 * What the viewer's pages show, as SQL over the query views: the run list with totals, one
 * run's tree with every step of it and its nested runs, and LLM usage by model over time.
 */
import type { JsonCell, QueryEngine } from '../query/engine.js';

/** A run in the list. */
export interface RunRow {
  runId: string;
  parentRunId: string | null;
  rootRunId: string | null;
  task: string | null;
  environment: string | null;
  model: string | null;
  sessionId: string | null;
  userId: string | null;
  tags: string[] | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  state: 'open' | 'ended';
  completed: boolean | null;
  steps: number | null;
  totalReward: number | null;
  finalAnswer: string | null;
  stepCount: number;
  failedSteps: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
  children: number;
}

/** A step on the run page. */
export interface StepRow {
  runId: string;
  step: number | null;
  action: string | null;
  reward: number | null;
  cumulativeReward: number | null;
  success: boolean | null;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  code: string | null;
  rationale: string | null;
  output: string | null;
  error: string | null;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costUsd: number | null;
  cacheStatus: string | null;
}

/** A score or feedback on the run page. */
export interface ScoreRow {
  runId: string;
  name: string;
  value: string | null;
  valueNumber: number | null;
  kind: string | null;
  comment: string | null;
  step: number | null;
  source: string | null;
  at: string | null;
}

/** A run page: the run, its nested runs (any depth), all their steps and the run's scores. */
export interface RunTree {
  run: RunRow;
  runs: RunRow[];
  steps: StepRow[];
  scores: ScoreRow[];
}

/** LLM usage per model and time bucket, for the charts. */
export interface UsageSeries {
  bucket: string;
  points: Array<{
    at: string;
    model: string;
    calls: number;
    inputTokens: number;
    outputTokens: number;
    costUsd: number;
  }>;
}

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

const RUN_SELECT = `
  WITH s AS (
    SELECT run_id, count(*) AS step_count, count(*) FILTER (WHERE success = false) AS failed_steps,
           coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM steps GROUP BY run_id
  ), c AS (SELECT parent_run_id AS run_id, count(*) AS children FROM runs GROUP BY 1)
  SELECT r.run_id, r.parent_run_id, r.root_run_id, r.task, r.environment, r.model,
         r.session_id, r.user_id, r.tags, r.started_at, r.finished_at, r.duration_ms, r.state, r.completed, r.steps,
         r.total_reward, r.final_answer,
         coalesce(s.step_count, 0) AS step_count, coalesce(s.failed_steps, 0) AS failed_steps,
         coalesce(s.input_tokens, 0) AS input_tokens, coalesce(s.output_tokens, 0) AS output_tokens,
         s.cost_usd, coalesce(c.children, 0) AS children
  FROM runs r LEFT JOIN s ON s.run_id = r.run_id LEFT JOIN c ON c.run_id = r.run_id`;

/** `run_id` → `runId`: the API speaks the camelCase of the rest of rlm-obs. */
function camel<T>(row: Record<string, JsonCell>): T {
  const out: Record<string, JsonCell> = {};
  for (const [key, value] of Object.entries(row))
    out[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  return out as T;
}

const toRun = (row: Record<string, JsonCell>) => camel<RunRow>(row);
const toStep = (row: Record<string, JsonCell>) => camel<StepRow>(row);
const toScore = (row: Record<string, JsonCell>) => camel<ScoreRow>(row);

/** Every run, newest first, with step totals and how many runs it spawned. */
export async function listRuns(engine: QueryEngine): Promise<RunRow[]> {
  const { rows } = await engine.query(
    `${RUN_SELECT} ORDER BY r.started_at DESC NULLS LAST, r.run_id`,
  );
  return rows.map(toRun);
}

/** One run with its nested runs and all their steps, or undefined when there is no such run. */
export async function runTree(engine: QueryEngine, runId: string): Promise<RunTree | undefined> {
  const { rows } = await engine.query(`
    WITH RECURSIVE tree(run_id) AS (
      SELECT run_id FROM runs WHERE run_id = ${sqlString(runId)}
      UNION
      SELECT r.run_id FROM runs r JOIN tree t ON r.parent_run_id = t.run_id
    ), all_runs AS (${RUN_SELECT})
    SELECT * FROM all_runs WHERE run_id IN (SELECT run_id FROM tree)
    ORDER BY started_at NULLS LAST, run_id`);
  const runs = rows.map(toRun);
  const run = runs.find((r) => r.runId === runId);
  if (!run) return undefined;
  const list = runs.map((r) => sqlString(r.runId)).join(', ');
  const steps = await engine.query(
    `SELECT run_id, step, action, reward, cumulative_reward, success, started_at, ended_at,
            duration_ms, code, rationale, output, error, model, input_tokens, output_tokens,
            cost_usd, cache_status
     FROM steps WHERE run_id IN (${list}) ORDER BY started_at NULLS LAST, run_id, step`,
  );
  const scores = await engine.query(
    `SELECT run_id, name, value, value_number, kind, comment, step, source, scored_at AS "at"
     FROM scores WHERE run_id = ${sqlString(runId)} ORDER BY scored_at NULLS LAST, name`,
  );
  return { run, runs, steps: steps.rows.map(toStep), scores: scores.rows.map(toScore) };
}

const BUCKETS = [
  ['1 minute', 60_000],
  ['10 minutes', 600_000],
  ['1 hour', 3_600_000],
  ['6 hours', 21_600_000],
  ['1 day', 86_400_000],
  ['7 days', 604_800_000],
] as const;

/** Tokens and cost per model over time, in buckets sized so the chart has at most ~48 bars. */
export async function usageOverTime(engine: QueryEngine): Promise<UsageSeries> {
  const range = await engine.query(
    'SELECT epoch_ms(min(started_at)) AS lo, epoch_ms(max(started_at)) AS hi FROM llm_calls',
  );
  const lo = range.rows[0]?.lo as number | null;
  const hi = range.rows[0]?.hi as number | null;
  if (lo === null || hi === null || lo === undefined || hi === undefined)
    return { bucket: BUCKETS[0][0], points: [] };
  const span = hi - lo;
  const bucket = BUCKETS.find(([, ms]) => span / ms <= 48) ?? BUCKETS[BUCKETS.length - 1]!;
  const { rows } = await engine.query(`
    SELECT time_bucket(INTERVAL '${bucket[0]}', started_at) AS bucket_start, coalesce(model, 'unknown') AS model,
           count(*) AS calls, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, coalesce(sum(cost_usd), 0) AS cost_usd
    FROM llm_calls WHERE started_at IS NOT NULL GROUP BY ALL ORDER BY bucket_start, model`);
  return {
    bucket: bucket[0],
    points: rows.map((r) => ({
      at: r.bucket_start as string,
      model: r.model as string,
      calls: r.calls as number,
      inputTokens: r.input_tokens as number,
      outputTokens: r.output_tokens as number,
      costUsd: r.cost_usd as number,
    })),
  };
}
