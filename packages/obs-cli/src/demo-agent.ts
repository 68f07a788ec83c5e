/**
 * A simulated RLM agent, seeded and deterministic: steps with code, output, errors and
 * rewards, LLM usage with tokens and cost, cache hits, recursive sub-runs, one run that
 * fails, sessions/users/tags, and a judge's score and a user's feedback on the first run.
 * Used by `rlm-obs demo` and the examples.
 */
import type { RLMObservability, Run } from '@rlm/obs-core';

/** Options of {@link runDemoAgent}. */
export interface DemoOptions {
  /** @defaultValue `42` */
  seed?: number;
  /** Top-level runs. @defaultValue `3` */
  runs?: number;
  /** Steps per run. @defaultValue `6` */
  steps?: number;
  /** Real milliseconds a step takes at least (up to 4x that, seeded). @defaultValue `3` */
  stepDelayMs?: number;
}

/** The runs the demo recorded. */
export interface DemoResult {
  runIds: string[];
  /** The run that fails: the last one when there are two or more, else `''` (none fails). */
  failedRunId: string;
  nestedRunIds: string[];
}

/** mulberry32: small, fast, good enough for a demo, and the same everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODELS = [
  { model: 'gpt-4.1-mini', input: 0.4 / 1e6, output: 1.6 / 1e6 },
  { model: 'claude-3-5-haiku', input: 0.8 / 1e6, output: 4 / 1e6 },
];
const TASKS = [
  ['Sum the squares below 50 and explain the closed form', 'pure_rlm'],
  ['Build a DSPy signature for question answering', 'dspy'],
  ['Find the longest palindrome in a 10k-char context', 'pure_rlm'],
  ['Summarise the failing test and propose a fix', 'repo'],
] as const;

/**
 * Runs the simulated agent through `obs`. Deterministic for a seed: the same steps, rewards,
 * tokens and costs every time (ids and timestamps differ).
 */
export async function runDemoAgent(
  obs: RLMObservability,
  options: DemoOptions = {},
): Promise<DemoResult> {
  // A count that is not a finite number (NaN from a bad option, Infinity) falls back to its
  // default, so the demo never records zero runs; fractions round down.
  const whole = (value: number | undefined, fallback: number): number =>
    value !== undefined && Number.isFinite(value) ? Math.floor(value) : fallback;
  const seed = options.seed !== undefined && Number.isFinite(options.seed) ? options.seed : 42;
  const random = prng(seed);
  const runs = Math.max(1, whole(options.runs, 3));
  const steps = Math.max(2, whole(options.steps, 6));
  const delay = Math.max(0, whole(options.stepDelayMs, 3));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const result: DemoResult = { runIds: [], failedRunId: '', nestedRunIds: [] };

  const step = async (run: Run, i: number, total: number, fail: boolean): Promise<void> => {
    const model = pick(MODELS);
    const inputTokens = 400 + Math.floor(random() * 1200);
    const outputTokens = 40 + Math.floor(random() * 300);
    const cached = random() < 0.3;
    const work = delay * (1 + Math.floor(random() * 4));
    const n = 10 + Math.floor(random() * 90);
    const submit = i === total && !fail;
    const code = submit
      ? `SUBMIT(answer=${(n * (n - 1) * (2 * n - 1)) / 6})`
      : `values = [i * i for i in range(${n})]\nprint(sum(values))`;
    const startedAt = Date.now();
    if (work > 0) await new Promise((resolve) => setTimeout(resolve, work));
    run.step({
      action: {
        action: submit ? 'submit' : 'run_python',
        code,
        rationale: submit ? 'the sum checks out' : `try n=${n}`,
      },
      observation: fail
        ? {
            success: false,
            output: '',
            error: `NameError: name 'valeus' is not defined (step ${i})`,
          }
        : { success: true, output: String((n * (n - 1) * (2 * n - 1)) / 6) },
      reward: fail ? -0.2 : Math.round(random() * 50) / 100,
      startedAt,
      durationMs: Date.now() - startedAt,
      usage: {
        model: model.model,
        provider: model.model.startsWith('gpt') ? 'openai' : 'anthropic',
        inputTokens,
        outputTokens,
        ...(cached ? { cacheReadTokens: Math.floor(inputTokens * 0.8) } : {}),
        costUsd: Math.round((inputTokens * model.input + outputTokens * model.output) * 1e8) / 1e8,
      },
      cache: { status: cached ? 'hit' : 'miss', key: `prompt-${i % 3}` },
    });
  };

  for (let r = 0; r < runs; r++) {
    const [task, environment] = TASKS[r % TASKS.length]!;
    const failing = r === runs - 1 && runs > 1;
    const run = obs.startRun({
      task,
      environment,
      params: { max_steps: steps, model: MODELS[r % 2]!.model, seed },
      sessionId: `demo-session-${(r % 2) + 1}`,
      userId: 'demo-user',
      tags: ['demo', environment],
    });
    result.runIds.push(run.id);
    const total = failing ? Math.ceil(steps / 2) : steps;
    for (let i = 1; i <= total; i++) {
      await step(run, i, total, failing && i >= total - 1);
      if (!failing && i === 2) {
        // A recursive sub-run, and one level deeper.
        const child = run.child({
          task: `Verify the partial result of step ${i}`,
          environment,
          params: { max_steps: 2 },
        });
        result.nestedRunIds.push(child.id);
        await step(child, 1, 2, false);
        const grandchild = child.child({
          task: 'Re-derive the closed form',
          environment,
          params: { max_steps: 1 },
        });
        result.nestedRunIds.push(grandchild.id);
        await step(grandchild, 1, 1, false);
        grandchild.end({ finalAnswer: 'n(n-1)(2n-1)/6' });
        await step(child, 2, 2, false);
        child.end({ finalAnswer: 'verified' });
      }
    }
    if (failing) {
      result.failedRunId = run.id;
      run.fail(new Error('step budget exhausted after repeated NameErrors'));
    } else {
      if (r === 0)
        run.score('answer_quality', 0.9, {
          source: 'llm-judge',
          step: total,
          comment: 'closed form derived and checked',
        });
      run.end({ finalAnswer: `answer for: ${task}` });
      // Feedback from the user, after the run ended.
      if (r === 0) run.feedback('thumbs_up', true, { source: 'demo-user', comment: 'helpful' });
    }
  }
  return result;
}
