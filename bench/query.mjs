/**
 * The query benchmark of `pnpm bench`: records N steps (1,000,000 in a full run) through the
 * coordinator and the jsonl sink, 1,000 steps per run, then times a GROUP BY over them with
 * `rlm-obs query`'s engine (DuckDB over the files in place), against the same aggregation
 * done naively in Node in the same run (read every step file, JSON.parse each line).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QueryEngine } from '@rlm/obs-cli';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';

const MODELS = ['gpt-4.1-mini', 'claude-3-5-haiku', 'gpt-4o', 'o3'];
const ENVIRONMENTS = ['pure_rlm', 'dspy', 'repo'];
export const GROUP_BY = `SELECT model, count(*) AS steps, sum(input_tokens) AS input_tokens,
  sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd, avg(reward) AS reward,
  count(*) FILTER (WHERE NOT success) AS failed
FROM steps GROUP BY model ORDER BY model`;

const yieldLoop = () => new Promise((resolve) => setImmediate(resolve));

async function record(dir, steps) {
  const obs = RLMObservability.withSinks([createJsonlSink({ dir })], { flushOnExit: false });
  const perRun = 1_000;
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  for (let r = 0; r < steps / perRun; r++) {
    const run = obs.startRun({
      task: `benchmark task ${r}`,
      environment: ENVIRONMENTS[r % ENVIRONMENTS.length],
      params: { max_steps: perRun, model: MODELS[r % MODELS.length] },
    });
    for (let s = 1; s <= perRun; s++) {
      const fail = (r + s) % 23 === 0;
      run.step({
        action: {
          action: 'run_python',
          code: `values = [i * i for i in range(${s})]\nprint(sum(values))`,
        },
        observation: fail
          ? { success: false, output: '', error: "NameError: name 'valeus' is not defined" }
          : { success: true, output: String(s * s) },
        reward: (s % 10) / 10,
        startedAt: t0 + r * 60_000 + s * 40,
        durationMs: 30,
        usage: {
          model: MODELS[(r + s) % MODELS.length],
          inputTokens: 400 + (s % 700),
          outputTokens: 40 + (s % 300),
          costUsd: 0.0004,
        },
      });
      if (s % 250 === 0) await yieldLoop();
    }
    run.end({ completed: r % 7 !== 0, finalAnswer: 'done' });
  }
  const report = await obs.shutdown({ timeoutMs: 120_000 });
  if (report.sinks[0].dropped !== 0 || report.sinks[0].failed !== 0)
    throw new Error(`recording lost events: ${JSON.stringify(report.sinks[0])}`);
}

/** The same GROUP BY, the way a script would do it without a query engine. */
async function naive(dir) {
  const groups = new Map();
  const stepsDir = path.join(dir, 'steps');
  for (const file of fs.readdirSync(stepsDir)) {
    const text = fs.readFileSync(path.join(stepsDir, file), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      const l = JSON.parse(line);
      const u = l.event?.usage ?? {};
      const key = u.model ?? null;
      let g = groups.get(key);
      if (!g) {
        g = { steps: 0, input: 0, output: 0, cost: 0, reward: 0, failed: 0 };
        groups.set(key, g);
      }
      g.steps++;
      g.input += u.inputTokens ?? 0;
      g.output += u.outputTokens ?? 0;
      g.cost += u.costUsd ?? 0;
      g.reward += l.reward ?? 0;
      if (l.success === false) g.failed++;
    }
  }
  return groups;
}

export async function benchQuery(tmpRoot, { quick }) {
  const steps = quick ? 100_000 : 1_000_000;
  const dir = path.join(tmpRoot, 'query');
  const recordStart = performance.now();
  await record(dir, steps);
  const recordSeconds = (performance.now() - recordStart) / 1000;
  const engine = await QueryEngine.open(dir);
  const times = [];
  let result;
  try {
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      result = await engine.query(GROUP_BY);
      times.push((performance.now() - t) / 1000);
    }
  } finally {
    engine.close();
  }
  const counted = result.rows.reduce((n, r) => n + r.steps, 0);
  if (counted !== steps) throw new Error(`the query counted ${counted} steps of ${steps}`);
  const t = performance.now();
  const groups = await naive(dir);
  const naiveSeconds = (performance.now() - t) / 1000;
  for (const row of result.rows) {
    const g = groups.get(row.model);
    if (!g || g.steps !== row.steps || g.input !== row.input_tokens)
      throw new Error(`the query and the naive pass disagree on ${row.model}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    steps,
    recordSeconds,
    firstSeconds: times[0],
    bestSeconds: Math.min(...times),
    naiveSeconds,
  };
}
