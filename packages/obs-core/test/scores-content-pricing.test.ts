/**
 * Issue 12 in the core: scores and feedback through the optional `onScore` hook (the seed's
 * end-of-run scores included), sessions/users/tags inherited by child runs, content switches
 * that withhold content from remote sinks only, priced usage, and the auth cooldown.
 */
import { describe, expect, it } from 'vitest';
import {
  AuthCooldown,
  assignOwn,
  isAuthFailure,
  priceUsage,
  RLMObservability,
  type RLMObservabilitySink,
  type ScoreRecord,
  type StepRecord,
} from '../src/index.js';
import { MemorySink } from '../src/testing/index.js';

const quiet = { flushOnExit: false, logger: false } as const;

/** Records every hook, scores included, in one ordered list. */
function orderedSink(name = 'ordered', extra: Partial<RLMObservabilitySink> = {}) {
  const calls: Array<[string, string, unknown]> = [];
  const sink: RLMObservabilitySink = {
    name,
    status: () => ({ name, enabled: true, available: true, detail: '' }),
    onRunStart: (id, start) => void calls.push(['start', id, start]),
    onStep: (id, step) => void calls.push(['step', id, step]),
    onRunEnd: (id, end) => void calls.push(['end', id, end]),
    onScore: (id, score) => void calls.push(['score', id, score]),
    ...extra,
  };
  return { sink, calls };
}

describe('scores and feedback', () => {
  it('run.score and run.feedback reach sinks with onScore; end-of-run scores come just before onRunEnd', () => {
    const { sink, calls } = orderedSink();
    const obs = RLMObservability.withSinks([sink], quiet);
    const run = obs.startRun({ task: 't', environment: 'e' });
    run.step({ reward: 0.5 });
    run.score('correctness', 0.8, {
      comment: 'one edge case missed',
      step: 1,
      source: 'llm-judge',
    });
    run.end({ completed: true });
    run.feedback('thumbs_up', true, { comment: 'nice', source: 'user' });
    expect(
      calls.map(([hook, , p]) => (hook === 'score' ? `score:${(p as ScoreRecord).name}` : hook)),
    ).toEqual([
      'start',
      'step',
      'score:correctness',
      'score:reward',
      'score:completed',
      'end',
      'score:thumbs_up',
    ]);
    const scores = calls.filter(([h]) => h === 'score').map(([, , p]) => p as ScoreRecord);
    expect(scores[0]).toMatchObject({
      name: 'correctness',
      value: 0.8,
      kind: 'score',
      comment: 'one edge case missed',
      step: 1,
      source: 'llm-judge',
    });
    expect(Date.parse(scores[0]!.at)).toBeGreaterThan(0);
    expect(scores[1]).toMatchObject({
      name: 'reward',
      value: 0.5,
      kind: 'score',
      source: 'rlm-obs',
    });
    expect(scores[2]).toMatchObject({ name: 'completed', value: true, source: 'rlm-obs' });
    expect(scores[3]).toMatchObject({
      name: 'thumbs_up',
      value: true,
      kind: 'feedback',
      source: 'user',
    });
  });

  it('sinks without onScore keep working and count no scores; bad scores are ignored, never thrown', () => {
    const old: RLMObservabilitySink = {
      name: 'old',
      status: () => ({ name: 'old', enabled: true, available: true, detail: '' }),
      onRunStart: () => {},
      onStep: () => {},
      onRunEnd: () => {},
    };
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([old, memory], quiet);
    const run = obs.startRun({ task: 't' });
    run.score('ok', 1);
    for (const bad of [
      { name: '', value: 1 },
      { name: 'nan', value: Number.NaN },
      { name: 'obj', value: { a: 1 } },
      null,
      undefined,
    ])
      expect(() => obs.onScore(run.id, bad as never)).not.toThrow();
    run.end({ completed: false, totalReward: 0 });
    const [oldStatus, memoryStatus] = obs.status();
    expect(oldStatus!.counters.delivered).toBe(2);
    expect(memoryStatus!.counters.delivered).toBe(2 + 3);
    expect(memory.scores.map((s) => s.score.name)).toEqual(['ok', 'reward', 'completed']);
  });

  it('redacts secrets in score comments', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const run = obs.startRun({});
    run.score('x', 1, { comment: 'see https://bob:hunter22@example.com/x' });
    expect(memory.scores[0]!.score.comment).not.toContain('hunter22');
  });
});

describe('sessions, users and tags', () => {
  it('land on the run start and are inherited by child runs (tags merged)', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const root = obs.startRun({
      task: 'r',
      sessionId: 'chat-42',
      userId: 'u-7',
      tags: ['prod', 'prod', 'eval'],
    });
    const child = root.child({ task: 'c', tags: ['sub'] });
    root.child({ task: 'o', userId: 'u-8' });
    const starts = memory.events.filter((e) => e.hook === 'onRunStart').map((e) => e.payload);
    expect(starts[0]).toMatchObject({
      sessionId: 'chat-42',
      userId: 'u-7',
      tags: ['prod', 'eval'],
    });
    expect(starts[1]).toMatchObject({
      sessionId: 'chat-42',
      userId: 'u-7',
      tags: ['prod', 'eval', 'sub'],
    });
    expect(starts[2]).toMatchObject({
      sessionId: 'chat-42',
      userId: 'u-8',
      tags: ['prod', 'eval'],
    });
    expect(child.parentRunId).toBe(root.id);
  });
});

describe('content switches', () => {
  const step = {
    action: { action: 'run_python', code: 'print("secret plan")', rationale: 'because' },
    observation: { success: false, output: 'the output', error: 'Traceback: boom' },
    messages: [{ role: 'user', content: 'hello' }],
    reward: 1,
    durationMs: 12,
    usage: {
      model: 'gpt-4.1-mini',
      inputTokens: 10,
      outputTokens: 5,
      prompt: 'p',
      completion: 'c',
    },
  };

  it('recordContent: false withholds content from remote sinks, keeps sizes, and leaves local sinks whole', () => {
    const remote = new MemorySink('remote');
    const local = Object.assign(new MemorySink('local'), { local: true });
    const obs = RLMObservability.withSinks([remote, local], { ...quiet, recordContent: false });
    const run = obs.startRun({ task: 'a private task', environment: 'e' });
    run.step(step);
    run.end({ completed: true, finalAnswer: '42' });
    const [start, stepEvent, end] = remote.events.map((e) => e.payload) as [
      { task: string },
      StepRecord,
      { result: { finalAnswer: string } },
    ];
    expect(start.task).toBe('[content omitted: 14 chars]');
    const e = stepEvent.event as typeof step & Record<string, unknown>;
    expect(e.action.code).toBe('[content omitted: 20 chars]');
    expect(e.action.rationale).toBe('[content omitted: 7 chars]');
    expect(e.observation.output).toBe('[content omitted: 10 chars]');
    expect(e.observation.error).toBe('[content omitted: 15 chars]');
    expect(e.messages).toMatch(/^\[content omitted: \d+ chars of JSON\]$/);
    expect(e.usage).toMatchObject({
      inputTokens: 10,
      outputTokens: 5,
      prompt: '[content omitted: 1 chars]',
    });
    expect(e.observation.success).toBe(false);
    expect(e.reward).toBe(1);
    expect(e.durationMs).toBe(12);
    expect(end.result.finalAnswer).toBe('[content omitted: 2 chars]');
    expect(JSON.stringify(remote.events)).not.toMatch(/secret plan|the output|private task|hello/);
    // The local files keep everything.
    expect(JSON.stringify(local.events)).toContain('secret plan');
    expect((local.events[0]!.payload as { task: string }).task).toBe('a private task');
  });

  it('per run, inherited by children, and per side', () => {
    const remote = new MemorySink('remote');
    const obs = RLMObservability.withSinks([remote], quiet);
    const open = obs.startRun({ task: 'open task' });
    open.step(step);
    const closed = obs.startRun({ task: 'closed task', recordContent: { outputs: false } });
    closed.step(step);
    const child = closed.child({ task: 'child task' });
    child.step(step);
    const events = (id: string) => remote.stepsOf(id).map((s) => s.event) as Array<typeof step>;
    expect(events(open.id)[0]!.observation.output).toBe('the output');
    for (const id of [closed.id, child.id]) {
      const [e] = events(id);
      expect(e!.action.code).toBe('print("secret plan")');
      expect(e!.observation.output).toBe('[content omitted: 10 chars]');
    }
    const starts = remote.events
      .filter((e) => e.hook === 'onRunStart')
      .map((e) => (e.payload as { task: string }).task);
    expect(starts).toEqual(['open task', 'closed task', 'child task']);
  });
});

describe('priced usage', () => {
  it('prices steps with a model and tokens from the table; caller costs win; unknown models stay unpriced', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const run = obs.startRun({});
    run.step({
      usage: { model: 'gpt-4.1-mini', provider: 'openai', inputTokens: 1000, outputTokens: 200 },
    });
    run.step({
      usage: { model: 'gpt-4.1-mini', inputTokens: 1000, cacheReadTokens: 500, outputTokens: 200 },
    });
    run.step({
      usage: { model: 'gpt-4.1-mini', inputTokens: 1000, outputTokens: 200, costUsd: 9 },
    });
    run.step({
      usage: [
        { model: 'claude-3-5-haiku', prompt_tokens: 1000, completion_tokens: 200 },
        { model: 'no-such-model-x', inputTokens: 5 },
      ],
    });
    const usage = memory.stepsOf(run.id).map((s) => s.event.usage) as Array<
      Record<string, unknown> | Array<Record<string, unknown>>
    >;
    expect((usage[0] as Record<string, number>).costUsd).toBeCloseTo(
      1000 * 0.4e-6 + 200 * 1.6e-6,
      12,
    );
    expect((usage[1] as Record<string, number>).costUsd).toBeCloseTo(
      500 * 0.4e-6 + 500 * 0.1e-6 + 200 * 1.6e-6,
      12,
    );
    expect(usage[2]).toMatchObject({ costUsd: 9 });
    const [haiku, unknown] = usage[3] as Array<Record<string, number>>;
    expect(haiku!.costUsd).toBeCloseTo(1000 * 0.8e-6 + 200 * 4e-6, 12);
    expect(unknown).not.toHaveProperty('costUsd');
    expect(priceUsage({ model: 'gpt-4.1-mini' })).toBeUndefined();
  });

  it('a priced usage record keeps every key of the original, a `__proto__` key as data too', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], quiet);
    const run = obs.startRun({});
    run.step({
      usage: JSON.parse(
        '{"model":"gpt-4.1-mini","inputTokens":1000,"outputTokens":200,"__proto__":{"team":"ml"}}',
      ),
    });
    const usage = memory.stepsOf(run.id)[0]!.event.usage as Record<string, unknown>;
    expect(usage.costUsd).toBeGreaterThan(0);
    expect(Object.getPrototypeOf(usage)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(usage, '__proto__')?.value).toEqual({ team: 'ml' });
    expect(JSON.parse(JSON.stringify(usage))).toMatchObject({ ['__proto__']: { team: 'ml' } });
  });

  it('assignOwn copies own keys like a spread, later copies winning', () => {
    const a = { x: 1, y: 2 };
    const b = JSON.parse('{"y":3,"__proto__":{"polluted":true}}');
    const out = assignOwn(assignOwn({}, a), b);
    expect(out).toEqual({ ...a, ...b });
    expect(Object.keys(out)).toEqual(Object.keys({ ...a, ...b }));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('pricing: false leaves usage alone', () => {
    const memory = new MemorySink();
    const obs = RLMObservability.withSinks([memory], { ...quiet, pricing: false });
    const run = obs.startRun({});
    run.step({ usage: { model: 'gpt-4.1-mini', inputTokens: 1000, outputTokens: 200 } });
    expect(memory.stepsOf(run.id)[0]!.event.usage).not.toHaveProperty('costUsd');
  });
});

describe('auth cooldown', () => {
  it('pauses on 401/403 with jittered backoff from one minute up to fifteen, counts skips, resumes on success', () => {
    let now = 1_000_000;
    let random = 0.5; // no jitter
    const cooldown = new AuthCooldown({ now: () => now, random: () => random });
    expect(cooldown.paused).toBe(false);
    expect(cooldown.detail()).toBe('');
    cooldown.fail(401);
    expect(cooldown.paused).toBe(true);
    expect(cooldown.until - now).toBe(60_000);
    cooldown.skip();
    cooldown.skip(4);
    expect(cooldown.detail()).toBe(
      'auth failed (HTTP 401): paused for 60s, 5 events skipped; check the credentials',
    );
    now += 60_000;
    expect(cooldown.paused).toBe(false);
    cooldown.fail(403);
    expect(cooldown.until - now).toBe(120_000);
    for (let i = 0; i < 10; i++) cooldown.fail(403);
    expect(cooldown.until - now).toBe(900_000);
    random = 1; // +20% at most, never beyond
    cooldown.fail(403);
    expect(cooldown.until - now).toBe(1_080_000);
    random = 0;
    cooldown.fail(403);
    expect(cooldown.until - now).toBe(720_000);
    cooldown.succeed();
    expect(cooldown.paused).toBe(false);
    expect(cooldown.stats()).toMatchObject({
      authFailures: 14,
      authSkipped: 5,
      authPausedUntil: null,
    });
    cooldown.fail(401);
    expect(cooldown.until - now).toBe(48_000);
  });

  it('refused() ignores refusals that arrive during a pause; takeSkipped() reports each skip once', () => {
    let now = 0;
    const cooldown = new AuthCooldown({ now: () => now, random: () => 0.5 });
    expect(cooldown.refused(401)).toBe(true);
    expect(cooldown.refused(401)).toBe(false);
    expect(cooldown.until).toBe(60_000);
    expect(cooldown.failures).toBe(1);
    cooldown.skip(3);
    expect(cooldown.takeSkipped()).toBe(3);
    expect(cooldown.takeSkipped()).toBe(0);
    now = 60_000;
    expect(cooldown.refused(403)).toBe(true);
    expect(cooldown.until - now).toBe(120_000);
  });

  it('knows HTTP and gRPC auth failures', () => {
    expect([401, 403, 500, 429, undefined].map((s) => isAuthFailure(s))).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    expect([16, 7, 14].map((s) => isAuthFailure(s, true))).toEqual([true, true, false]);
  });
});
