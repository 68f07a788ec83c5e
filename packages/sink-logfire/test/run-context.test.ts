import { context, createContextKey } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { RLMObservability } from '@rlm/obs-core';
import { closedPort } from '@rlm/obs-core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startHttpReceiver } from '../../otel-common/test/receivers.js';
import { createLogfireSinkFromEnv, LogfireSink } from '../src/index.js';

const TOKEN = 'pylf_v1_us_testtokenvalue0123456789';

function recording(options: ConstructorParameters<typeof LogfireSink>[0] = {}) {
  const exporter = new InMemorySpanExporter();
  const sink = new LogfireSink({ spanExporter: exporter, token: TOKEN, ...options });
  return { exporter, sink };
}

const byTemplate = (spans: ReadableSpan[], template: string) =>
  spans.filter((s) => s.attributes['logfire.msg_template'] === template);

describe('a run joins the trace of its traceparent', () => {
  it('the run span is the remote span’s child, its logs in the same trace', async () => {
    const { exporter, sink } = recording();
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const run = obs.startRun({
      runId: 'remote-run',
      task: 't',
      environment: 'e',
      traceparent: `00-${traceId}-b7ad6b7169203331-01`,
    });
    run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
    run.end({ completed: true });
    await obs.flush();
    const spans = exporter.getFinishedSpans();
    const root = byTemplate(spans, 'rlm.run {run_id}')[0]!;
    expect(root.spanContext().traceId).toBe(traceId);
    expect(root.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(spans.length).toBeGreaterThanOrEqual(6);
    for (const span of spans) expect(span.spanContext().traceId).toBe(traceId);
    for (const log of spans.filter((s) => s !== root))
      expect(log.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    await obs.shutdown();
  });
});

describe('custom attributes (seed 002: "add custom metadata to all spans")', () => {
  it('the coordinator’s and the run’s attributes are on the run span and every log; a step’s own win on its log', async () => {
    const { exporter, sink } = recording();
    const obs = RLMObservability.withSinks([sink], {
      flushOnExit: false,
      logger: false,
      attributes: { team: 'ml-platform' },
    });
    const run = obs.startRun({
      runId: 'custom-run',
      task: 't',
      environment: 'e',
      attributes: { experiment_id: 'exp-123', model_version: 'v2' },
    });
    run.step({
      action: { action: 'a' },
      observation: { success: true },
      reward: 1,
      attributes: { model_version: 'v3', step_note: 'retry' },
    });
    run.step({ action: { action: 'a' }, observation: { success: false, error: 'boom' } });
    run.score('quality', 0.9);
    run.end({ completed: true });
    await obs.flush();
    const spans = exporter.getFinishedSpans();
    const all = { team: 'ml-platform', experiment_id: 'exp-123' };
    const root = byTemplate(spans, 'rlm.run {run_id}')[0]!;
    expect(root.attributes).toMatchObject({ ...all, model_version: 'v2' });
    const logs = spans.filter((s) => s.attributes['logfire.span_type'] === 'log');
    expect(logs.map((s) => s.attributes['logfire.msg'])).toEqual([
      'RLM run started',
      'RLM step 1 completed',
      'RLM step 2 failed',
      'RLM score quality = 0.9',
      'RLM score reward = 1',
      'RLM score completed = true',
      'RLM run completed',
    ]);
    for (const log of logs) expect(log.attributes).toMatchObject(all);
    expect(logs[1]!.attributes).toMatchObject({ model_version: 'v3', step_note: 'retry' });
    expect(logs[2]!.attributes).toMatchObject({ model_version: 'v2' });
    expect(logs[2]!.attributes.step_note).toBeUndefined();
    // The template's values are the sink's: a custom attribute never renames the message.
    expect(logs[1]!.attributes['logfire.msg_template']).toBe('RLM step {step} completed');

    // A late score of the ended run keeps them too.
    run.score('late', 1);
    await obs.flush();
    const late = exporter.getFinishedSpans().find((s) => s.attributes.name === 'late')!;
    expect(late.attributes).toMatchObject(all);
    await obs.shutdown();
  });

  it('custom attributes never replace a log’s own fields, its identity or Logfire’s conventions', async () => {
    const { exporter, sink } = recording();
    const obs = RLMObservability.withSinks([sink], {
      flushOnExit: false,
      logger: false,
      attributes: { reward: 'sparse-v2', step: 'planner', name: 'support-agent' },
    });
    const run = obs.startRun({
      runId: 'clash-run',
      task: 'the task',
      environment: 'e',
      sessionId: 'session-1',
      attributes: { run_id: 'not-the-id', task: 'not-the-task', 'logfire.level_num': 99 },
    });
    run.step({ step: 1, action: { action: 'a' }, observation: { success: true }, reward: 0.5 });
    run.score('accuracy', 0.75);
    run.end({ completed: true, totalReward: 0.5 });
    await obs.flush();
    const spans = exporter.getFinishedSpans();
    const root = byTemplate(spans, 'rlm.run {run_id}')[0]!;
    expect(root.attributes).toMatchObject({ run_id: 'clash-run', task: 'the task' });
    expect(root.attributes['logfire.level_num']).not.toBe(99);
    const step = spans.find((s) => s.attributes.action === 'a')!;
    expect(step.attributes).toMatchObject({ step: 1, reward: 0.5, run_id: 'clash-run' });
    expect(String(step.attributes['logfire.msg'])).not.toContain('planner');
    const score = spans.find((s) => s.attributes.value === 0.75)!;
    expect(score.attributes.name).toBe('accuracy');
    // The custom attributes are still there where they do not clash.
    expect(step.attributes['session.id']).toBe('session-1');
    await obs.shutdown();
  });

  it('a step’s cache status and key: rlm.cache.status, rlm.cache.key', async () => {
    const { exporter, sink } = recording();
    sink.onRunStart('cached', { task: 't', environment: 'e', params: {} });
    sink.onStep('cached', {
      event: {
        observation: { success: true },
        cache: { status: 'hit', key: 'sha256:abc123' },
      },
      cumulativeReward: 0,
    });
    await sink.forceFlush();
    const step = byTemplate(exporter.getFinishedSpans(), 'RLM step {step} completed')[0]!;
    expect(step.attributes).toMatchObject({
      'rlm.cache.status': 'hit',
      'rlm.cache.key': 'sha256:abc123',
    });
    await sink.shutdown();
  });
});

describe('content limits', () => {
  it('`limits` sets the task, error and score text cuts, each marked', async () => {
    const { exporter, sink } = recording({ limits: { task: 10, error: 5, scoreText: 8 } });
    sink.onRunStart('limited', { task: 'x'.repeat(50), environment: 'e', params: {} });
    sink.onStep('limited', {
      event: { observation: { success: false, error: 'e'.repeat(50) } },
      cumulativeReward: 0,
    });
    sink.onScore('limited', {
      name: 'verdict',
      value: 'v'.repeat(50),
      comment: 'c'.repeat(50),
      kind: 'score',
      at: new Date().toISOString(),
    });
    sink.onRunEnd('limited', { result: { completed: true } });
    await sink.forceFlush();
    const spans = exporter.getFinishedSpans();
    const run = byTemplate(spans, 'rlm.run {run_id}')[0]!;
    expect(run.attributes.task).toBe(`${'x'.repeat(10)}…[truncated 40 chars]`);
    const failed = byTemplate(spans, 'RLM step {step} failed')[0]!;
    expect(failed.attributes.error).toBe(`${'e'.repeat(5)}…[truncated 45 chars]`);
    const score = byTemplate(spans, 'RLM score {name} = {value}')[0]!;
    expect(score.attributes.value).toBe(`${'v'.repeat(8)}…[truncated 42 chars]`);
    expect(score.attributes.comment).toBe(`${'c'.repeat(8)}…[truncated 42 chars]`);
    await sink.shutdown();
  });

  it('an unusable limit given to the class makes the sink say so', () => {
    for (const [limits, detail] of [
      [{ task: 0 }, 'unavailable: limits.task must be a whole number > 0 (got 0)'],
      [{ text: 5 }, "unavailable: unknown limit 'text' (known: task, error, scoreText)"],
    ] as const) {
      const { sink } = recording({ limits: limits as never });
      expect(sink.status()).toMatchObject({ available: false, detail });
    }
  });

  it('the defaults are the seed’s: task 200, error 200, score text 1000, each marked', async () => {
    const { exporter, sink } = recording();
    sink.onRunStart('defaults', { task: 't'.repeat(300), environment: 'e', params: {} });
    sink.onStep('defaults', {
      event: { observation: { success: false, error: 'e'.repeat(300) } },
      cumulativeReward: 0,
    });
    sink.onScore('defaults', {
      name: 'verdict',
      value: 'v'.repeat(1200),
      kind: 'score',
      at: new Date().toISOString(),
    });
    sink.onRunEnd('defaults', { result: { completed: false } });
    await sink.forceFlush();
    const spans = exporter.getFinishedSpans();
    expect(byTemplate(spans, 'rlm.run {run_id}')[0]!.attributes.task).toBe(
      `${'t'.repeat(200)}…[truncated 100 chars]`,
    );
    expect(byTemplate(spans, 'RLM step {step} failed')[0]!.attributes.error).toBe(
      `${'e'.repeat(200)}…[truncated 100 chars]`,
    );
    expect(byTemplate(spans, 'RLM score {name} = {value}')[0]!.attributes.value).toBe(
      `${'v'.repeat(1000)}…[truncated 200 chars]`,
    );
    await sink.shutdown();
  });
});

describe('status() shows losses', () => {
  it('with Logfire down: spans_failed and last_error in the status (no secret), not only in stats()', async () => {
    const url = `http://user:hunter2@127.0.0.1:${await closedPort()}`;
    const sink = new LogfireSink({ token: TOKEN, baseUrl: url, exportTimeoutMs: 2_000 });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const run = obs.startRun({ runId: 'lost', task: 't' });
    for (let i = 0; i < 5; i++) run.step({ reward: 1 });
    run.end();
    const report = await obs.flush({ timeoutMs: 10_000 });
    expect(report.ok).toBe(false);
    const status = sink.status();
    expect(status).toMatchObject({
      name: 'logfire',
      available: true,
      spans_exported: 0,
      spans_dropped: 0,
    });
    expect(status.spans_ended).toBeGreaterThanOrEqual(9);
    expect(status.spans_failed).toBe(status.spans_ended);
    expect(status.last_error).toMatch(/ECONNREFUSED/);
    expect(obs.status()[0]).toMatchObject({ spans_failed: status.spans_failed });
    const text = JSON.stringify([status, sink.stats()]);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('hunter2');
    await obs.shutdown({ timeoutMs: 2_000 });
  });

  it('a sink without its own exporter (disabled, no token, the global provider) has no counters', () => {
    for (const sink of [
      new LogfireSink({ enabled: false }),
      new LogfireSink({}),
      new LogfireSink({ useGlobalProvider: true }),
    ]) {
      expect(sink.status().spans_ended).toBeUndefined();
      expect(sink.status().last_error).toBeUndefined();
    }
  });
});

describe('setup failed', () => {
  it('a LOGFIRE_BASE_URL that is not a URL: `setup failed: …` in the status, never the token', async () => {
    const secret = 'pylf_v1_us_setupsecret0123';
    const sink = createLogfireSinkFromEnv({
      DSPY_RLM_LOGFIRE_ENABLED: 'true',
      LOGFIRE_TOKEN: secret,
      LOGFIRE_BASE_URL: 'not a url',
    });
    const status = sink.status();
    expect(status).toMatchObject({ enabled: true, available: false });
    expect(status.detail).toMatch(/^setup failed: \S/);
    const check = await sink.check();
    expect(check.ok).toBe(false);
    expect(check.problems[0]!.problem).toMatch(/^setup failed: /);
    expect(JSON.stringify([status, check, sink.stats()])).not.toContain('setupsecret');
    // Hooks do nothing and never throw.
    expect(() => sink.onRunStart('r', { task: 't', environment: 'e', params: {} })).not.toThrow();
    await sink.shutdown();
  });
});

/** `@opentelemetry/core`'s `isTracingSuppressed` reads this key (made with `Symbol.for`). */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

describe('the sink’s own requests are not traced', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    context.disable();
  });

  it('check()’s probe runs with OpenTelemetry tracing suppressed', async () => {
    expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())).toBe(
      true,
    );
    const receiver = await startHttpReceiver();
    try {
      const realFetch = globalThis.fetch;
      const seen: Array<{ url: string; suppressed: unknown }> = [];
      vi.stubGlobal('fetch', (input: string | URL | Request, init?: RequestInit) => {
        seen.push({
          url: String(input),
          suppressed: context.active().getValue(SUPPRESS_TRACING),
        });
        return realFetch(input, init);
      });
      const sink = new LogfireSink({ token: TOKEN, baseUrl: receiver.url });
      // The host's own context is left as it was.
      const before = context.active();
      expect(await sink.check()).toMatchObject({ ok: true });
      expect(context.active()).toBe(before);
      expect(seen).toEqual([{ url: `${receiver.url}/v1/traces`, suppressed: true }]);
      expect(receiver.paths).toEqual(['/v1/traces']);
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});
