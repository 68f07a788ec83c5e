import { RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { hungServer } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';
import {
  type Received,
  startGrpcReceiver,
  startHttpReceiver,
} from '../../otel-common/test/receivers.js';
import { createOtelSinkFromEnv, OpenTelemetrySink, parseOtlpHeaders } from '../src/index.js';

const OK = 1;
const ERROR = 2;

async function recordSeedExample(sink: OpenTelemetrySink) {
  const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
  const run = obs.startRun({
    runId: 'abc12345',
    task: `Build a DSPy signature ${'x'.repeat(600)}`,
    environment: 'dspy',
    params: { max_steps: 5, model: 'gpt-4.1-mini' },
    attributes: { team: 'ml' },
    runPath: '/runs/abc12345',
  });
  const t0 = Date.now() - 1000;
  run.step({
    action: { action: 'run_python', code: `import dspy\n${'#'.repeat(1200)}` },
    observation: { success: true, output: 'Signature created' },
    reward: 0.5,
    startedAt: t0,
    durationMs: 150,
    usage: {
      model: 'gpt-4.1-mini',
      provider: 'openai',
      inputTokens: 100,
      outputTokens: 20,
      costUsd: 0.001,
    },
    cache: { status: 'hit' },
  });
  run.step({
    action: { action: 'run_python', code: 'x' },
    observation: { success: false, output: '', error: `NameError: ${'e'.repeat(300)}` },
    reward: 0.5,
    startedAt: t0 + 150,
    durationMs: 200,
  });
  run.step({ action: { action: 'submit' }, observation: { success: true }, reward: 0.5 });
  const child = run.child({ runId: 'child-1', task: 'nested', environment: 'dspy' });
  child.step({ action: { action: 'run_python' }, observation: { success: true }, reward: 1 });
  child.end();
  run.end({ finalAnswer: 'The signature works.' });
  const failed = obs.startRun({ runId: 'failed-1', task: 'fails', environment: 'pure_rlm' });
  failed.fail(new Error('budget'));
  const report = await obs.shutdown({ timeoutMs: 20_000 });
  return { run, report };
}

function checkSeedStructure(received: Received) {
  const traceId = traceIdFromRunId('abc12345');
  const spans = received.spans.filter((s) => s.traceId === traceId);
  const root = spans.find(
    (s) => s.name === 'rlm.run' && s.attributes['rlm.run_id'] === 'abc12345',
  )!;
  expect(root).toBeDefined();
  expect(root.parentSpanId).toBe('');
  expect(root.spanId).toBe(spanIdFromRunId('abc12345'));
  expect(root.resource['service.name']).toBe('rlm-code');
  expect(root.attributes).toMatchObject({
    'rlm.run_id': 'abc12345',
    'rlm.environment': 'dspy',
    'rlm.max_steps': 5,
    'rlm.model': 'gpt-4.1-mini',
    'rlm.completed': true,
    'rlm.total_steps': 3,
    'rlm.total_reward': 1.5,
    'rlm.run_path': '/runs/abc12345',
    team: 'ml',
    'gen_ai.usage.input_tokens': 100,
  });
  expect(String(root.attributes['rlm.task'])).toMatch(
    /^Build a DSPy signature x+…\[truncated \d+ chars\]$/,
  );
  expect(String(root.attributes['rlm.task']).indexOf('…')).toBe(500);
  // The coordinator's end-of-run scores arrive (through onScore) while the run span is open.
  expect(root.events).toEqual([
    {
      name: 'rlm.score',
      attributes: {
        'rlm.score.name': 'reward',
        'rlm.score.value': 1.5,
        'rlm.score.kind': 'score',
        'rlm.score.source': 'rlm-obs',
      },
    },
    {
      name: 'rlm.score',
      attributes: {
        'rlm.score.name': 'completed',
        'rlm.score.value': true,
        'rlm.score.kind': 'score',
        'rlm.score.source': 'rlm-obs',
      },
    },
    { name: 'final_answer', attributes: { answer: 'The signature works.' } },
  ]);
  expect(root.status.code).toBe(OK);

  const steps = spans
    .filter((s) => s.name === 'rlm.step' && s.parentSpanId === root.spanId)
    .sort((a, b) => Number(a.attributes['rlm.step']) - Number(b.attributes['rlm.step']));
  expect(steps.map((s) => s.attributes['rlm.step'])).toEqual([1, 2, 3]);
  expect(steps.map((s) => s.spanId)).toEqual([1, 2, 3].map((n) => spanIdFromRunId('abc12345', n)));
  expect(steps[0]!.attributes).toMatchObject({
    'rlm.run_id': 'abc12345',
    'rlm.action_type': 'run_python',
    'rlm.reward': 0.5,
    'rlm.cumulative_reward': 0.5,
    'rlm.success': true,
    'gen_ai.request.model': 'gpt-4.1-mini',
    'gen_ai.system': 'openai',
    'gen_ai.usage.input_tokens': 100,
    'gen_ai.usage.output_tokens': 20,
    'rlm.cache.status': 'hit',
  });
  expect(steps[0]!.events.map((e) => e.name)).toEqual(['code_execution', 'output']);
  expect(String(steps[0]!.events[0]!.attributes.code).indexOf('…')).toBe(1000);
  expect(steps[0]!.events[1]!.attributes).toEqual({ output: 'Signature created' });
  // Real timing, not zero-length spans.
  expect((steps[0]!.endNs - steps[0]!.startNs) / 1e6).toBeCloseTo(150, 0);
  expect((steps[1]!.endNs - steps[1]!.startNs) / 1e6).toBeCloseTo(200, 0);
  expect(steps[0]!.status.code).toBe(OK);
  // The first 200 characters, marked as cut (it was a bare cut before).
  expect(steps[1]!.status).toEqual({
    code: ERROR,
    message: `NameError: ${'e'.repeat(189)}…[truncated 111 chars]`,
  });
  expect(steps[1]!.attributes['rlm.cumulative_reward']).toBe(1);
  expect(steps[2]!.attributes['rlm.action_type']).toBe('submit');

  const child = spans.find(
    (s) => s.name === 'rlm.run' && s.attributes['rlm.run_id'] === 'child-1',
  )!;
  expect(child.parentSpanId).toBe(root.spanId);
  expect(
    spans.find((s) => s.name === 'rlm.step' && s.attributes['rlm.run_id'] === 'child-1')!
      .parentSpanId,
  ).toBe(child.spanId);

  const failed = received.spans.find(
    (s) => s.name === 'rlm.run' && s.attributes['rlm.run_id'] === 'failed-1',
  )!;
  expect(failed.status).toEqual({ code: ERROR, message: 'Run did not complete' });
  expect(failed.attributes['rlm.completed']).toBe(false);
}

function checkMetrics(received: Received) {
  const byName = (name: string) => received.metrics.filter((m) => m.name === name);
  const runs = byName('rlm.runs');
  expect(runs[0]).toMatchObject({ kind: 'sum', unit: '1' });
  const envs = Object.fromEntries(
    runs.flatMap((m) => m.points).map((p) => [p.attributes.environment, p.value]),
  );
  expect(envs).toEqual({ dspy: 2, pure_rlm: 1 });
  const steps = byName('rlm.steps').flatMap((m) => m.points);
  expect(steps.find((p) => p.attributes.run_id === 'abc12345')?.value).toBe(3);
  const reward = byName('rlm.reward').flatMap((m) => m.points);
  expect(byName('rlm.reward')[0]!.kind).toBe('histogram');
  expect(reward.reduce((n, p) => n + (p.count ?? 0), 0)).toBe(4);
  const duration = byName('rlm.run_duration');
  expect(duration[0]).toMatchObject({ kind: 'histogram', unit: 's' });
  expect(duration.flatMap((m) => m.points).reduce((n, p) => n + (p.count ?? 0), 0)).toBe(3);
}

describe('opentelemetry sink: seed 004 to the letter', () => {
  it('over OTLP gRPC (the default): the trace structure and the four metrics', async () => {
    const receiver = await startGrpcReceiver();
    try {
      const sink = new OpenTelemetrySink({
        endpoint: receiver.url,
        headers: { 'x-api-key': 'grpc-secret' },
      });
      expect(sink.status()).toMatchObject({
        name: 'opentelemetry',
        enabled: true,
        available: true,
        detail: receiver.url,
        service_name: 'rlm-code',
        metrics_enabled: true,
      });
      const { run, report } = await recordSeedExample(sink);
      expect(report.ok).toBe(true);
      expect(sink.getTraceId(run.id)).toBe(run.traceId);
      checkSeedStructure(receiver);
      checkMetrics(receiver);
      expect(receiver.headers[0]!['x-api-key']).toBe('grpc-secret');
      expect(JSON.stringify(sink.status())).not.toContain('grpc-secret');
    } finally {
      await receiver.close();
    }
  });

  it('over OTLP http/protobuf', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        headers: { authorization: 'Bearer http-secret' },
      });
      const { report } = await recordSeedExample(sink);
      expect(report.ok).toBe(true);
      checkSeedStructure(receiver);
      checkMetrics(receiver);
      expect(receiver.headers[0]!.authorization).toBe('Bearer http-secret');
      expect(receiver.headers[0]!['content-type']).toBe('application/x-protobuf');
    } finally {
      await receiver.close();
    }
  });

  it('metricsEnabled: false exports no metrics', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
      });
      await recordSeedExample(sink);
      expect(receiver.spans.length).toBeGreaterThan(0);
      expect(receiver.metrics).toEqual([]);
      expect(sink.status().metrics_enabled).toBe(false);
    } finally {
      await receiver.close();
    }
  });

  it('replaying a run yields the same trace and span ids', async () => {
    const receiver = await startHttpReceiver();
    try {
      for (let i = 0; i < 2; i++) {
        const obs = RLMObservability.withSinks(
          [
            new OpenTelemetrySink({
              protocol: 'http/protobuf',
              endpoint: receiver.url,
              metricsEnabled: false,
            }),
          ],
          { flushOnExit: false },
        );
        obs.onRunStart('replayed', { task: 't', environment: 'e', params: {} });
        obs.onStep('replayed', {
          event: { step: 1, observation: { success: true } },
          cumulativeReward: 0,
        });
        obs.onRunEnd('replayed', { result: { completed: true } });
        await obs.shutdown();
      }
      const ids = receiver.spans.map((s) => `${s.traceId}/${s.spanId}`);
      expect(ids).toHaveLength(4);
      expect(new Set(ids).size).toBe(2);
    } finally {
      await receiver.close();
    }
  });
});

describe('a burst beyond the span queue', () => {
  it('through the coordinator, the sink holds its events while the span queue is full: nothing dropped', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
        maxQueueSize: 50,
        scheduledDelayMs: 10,
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
      const run = obs.startRun({ runId: 'burst', task: 't' });
      for (let i = 0; i < 500; i++) run.step({ observation: { success: true }, reward: 1 });
      // The caller was not blocked: most events wait in the coordinator's queue.
      expect(obs.status()[0]!.counters.pending).toBeGreaterThan(400);
      run.end();
      const report = await obs.flush({ timeoutMs: 20_000 });
      expect(report.ok).toBe(true);
      const status = sink.status();
      expect(status).toMatchObject({ spans_ended: 501, spans_exported: 501, spans_dropped: 0 });
      expect(obs.status()[0]!.counters).toMatchObject({ dropped: 0, failed: 0, pending: 0 });
      expect(receiver.spans.filter((s) => s.name === 'rlm.step')).toHaveLength(500);
      expect((await obs.shutdown({ timeoutMs: 20_000 })).ok).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('a backend that never answers is not waited for: one hold runs out, then spans go to the bounded queue', async () => {
    const hung = await hungServer();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: hung.url,
        metricsEnabled: false,
        maxQueueSize: 50,
        exportTimeoutMs: 60_000,
      });
      sink.onRunStart('hung', { task: 't', environment: 'e', params: {} });
      const step = (n: number) =>
        sink.onStep('hung', {
          event: { step: n, observation: { success: true }, reward: 1 },
          cumulativeReward: n,
        });
      let n = 0;
      let hold: Promise<void> | undefined;
      while (!hold && n < 100) hold = step(++n);
      expect(hold).toBeInstanceOf(Promise);
      // No export finishes (the backend never answers, the export timeout is a minute): the
      // hold runs out and the sink stops holding.
      await hold;
      const later = Array.from({ length: 50 }, () => step(++n));
      expect(later.every((h) => h === undefined)).toBe(true);
    } finally {
      await hung.close();
    }
  }, 30_000);

  it('a flush waits for the export the batch timer already started: its spans are not counted as dropped', async () => {
    const batches: number[] = [];
    const slow = {
      export(spans: unknown[], done: (result: { code: number }) => void) {
        setTimeout(() => {
          batches.push(spans.length);
          done({ code: 0 });
        }, 300);
      },
      shutdown: async () => {},
      forceFlush: async () => {},
    };
    const sink = new OpenTelemetrySink({
      spanExporter: slow as never,
      metricsEnabled: false,
      scheduledDelayMs: 5,
    });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
    const run = obs.startRun({ runId: 'slow-export', task: 't' });
    for (let i = 0; i < 20; i++) run.step({ observation: { success: true }, reward: 1 });
    // Long enough for the batch processor's timer to start exporting the 20 step spans.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const report = await obs.flush({ timeoutMs: 5_000 });
    expect(report.ok).toBe(true);
    expect(batches).toEqual([20]);
    expect(sink.status()).toMatchObject({ spans_ended: 20, spans_exported: 20, spans_dropped: 0 });
    run.end();
    await obs.shutdown({ timeoutMs: 5_000 });
  });

  it('a caller that ignores the backpressure loses spans: the flush fails and says so; the next one is clean', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
        maxQueueSize: 50,
      });
      sink.onRunStart('burst', { task: 't', environment: 'e', params: {} });
      let held = 0;
      for (let i = 0; i < 500; i++) {
        const wait = sink.onStep('burst', {
          event: { step: i + 1, observation: { success: true }, reward: 1 },
          cumulativeReward: i + 1,
        });
        if (wait) held++;
      }
      expect(held).toBeGreaterThan(400);
      const error = await sink.forceFlush().catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/dropped \(the export queue was full\)/);
      const status = sink.status();
      expect(status.spans_failed).toBe(0);
      expect(status.spans_dropped as number).toBeGreaterThan(0);
      expect((status.spans_exported as number) + (status.spans_dropped as number)).toBe(500);
      sink.onRunEnd('burst', { result: { completed: true } });
      await expect(sink.shutdown()).resolves.toBeUndefined();
    } finally {
      await receiver.close();
    }
  });
});

describe('scores, feedback, sessions', () => {
  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    it(`${protocol}: score events on the open run span, late scores as rlm.score spans under the run, session/user/tags`, async () => {
      const receiver = protocol === 'grpc' ? await startGrpcReceiver() : await startHttpReceiver();
      try {
        const sink = new OpenTelemetrySink({
          protocol,
          endpoint: receiver.url,
          metricsEnabled: false,
        });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        const run = obs.startRun({
          runId: 'scored-run',
          task: 't',
          environment: 'eval',
          sessionId: 'sess-1',
          userId: 'user-7',
          tags: ['nightly', 'eval'],
        });
        run.step({ action: { action: 'run_python' }, observation: { success: true }, reward: 1 });
        run.step({ action: { action: 'submit' }, observation: { success: true }, reward: 0 });
        run.score('correctness', 0.8, {
          comment: 'one edge case missed',
          source: 'llm-judge',
          step: 2,
        });
        run.feedback('thumbs', 'up', { source: 'user' });
        const child = run.child({ runId: 'scored-child', task: 'nested', tags: ['child'] });
        child.step({ observation: { success: true } });
        child.end({ completed: false });
        run.end({ completed: true });
        // Late feedback on the ended run and on its ended child, and on a run never seen.
        run.feedback('helpful', false, { comment: 'wrong answer after all', source: 'user' });
        child.score('judge', 'fail');
        obs.onScore('never-seen-run', { name: 'late', value: 3 });
        const report = await obs.shutdown({ timeoutMs: 20_000 });
        expect(report.ok).toBe(true);

        const traceId = traceIdFromRunId('scored-run');
        const root = receiver.spans.find(
          (s) => s.name === 'rlm.run' && s.attributes['rlm.run_id'] === 'scored-run',
        )!;
        expect(root.attributes).toMatchObject({
          'session.id': 'sess-1',
          'user.id': 'user-7',
          'rlm.tags': ['nightly', 'eval'],
        });
        expect(root.events).toEqual([
          {
            name: 'rlm.score',
            attributes: {
              'rlm.score.name': 'correctness',
              'rlm.score.value': 0.8,
              'rlm.score.kind': 'score',
              'rlm.score.comment': 'one edge case missed',
              'rlm.score.source': 'llm-judge',
              'rlm.step': 2,
            },
          },
          {
            name: 'rlm.score',
            attributes: {
              'rlm.score.name': 'thumbs',
              'rlm.score.value': 'up',
              'rlm.score.kind': 'feedback',
              'rlm.score.source': 'user',
            },
          },
          {
            name: 'rlm.score',
            attributes: {
              'rlm.score.name': 'reward',
              'rlm.score.value': 1,
              'rlm.score.kind': 'score',
              'rlm.score.source': 'rlm-obs',
            },
          },
          {
            name: 'rlm.score',
            attributes: {
              'rlm.score.name': 'completed',
              'rlm.score.value': true,
              'rlm.score.kind': 'score',
              'rlm.score.source': 'rlm-obs',
            },
          },
        ]);
        const steps = receiver.spans.filter(
          (s) => s.name === 'rlm.step' && s.attributes['rlm.run_id'] === 'scored-run',
        );
        expect(steps).toHaveLength(2);
        for (const step of steps)
          expect(step.attributes).toMatchObject({
            'session.id': 'sess-1',
            'user.id': 'user-7',
            'rlm.tags': ['nightly', 'eval'],
          });
        const childSpan = receiver.spans.find(
          (s) => s.name === 'rlm.run' && s.attributes['rlm.run_id'] === 'scored-child',
        )!;
        // The child inherits session and user; its tags add to the parent's.
        expect(childSpan.attributes).toMatchObject({
          'session.id': 'sess-1',
          'user.id': 'user-7',
          'rlm.tags': ['nightly', 'eval', 'child'],
        });
        expect(
          childSpan.events.map((e) => [
            e.attributes['rlm.score.name'],
            e.attributes['rlm.score.value'],
          ]),
        ).toEqual([
          ['reward', 0],
          ['completed', false],
        ]);

        const late = receiver.spans.filter((s) => s.name === 'rlm.score');
        expect(late).toHaveLength(3);
        const helpful = late.find((s) => s.attributes['rlm.score.name'] === 'helpful')!;
        expect(helpful.traceId).toBe(traceId);
        expect(helpful.parentSpanId).toBe(root.spanId);
        expect(helpful.endNs).toBe(helpful.startNs);
        expect(helpful.attributes).toEqual({
          'rlm.run_id': 'scored-run',
          'rlm.score.name': 'helpful',
          'rlm.score.value': false,
          'rlm.score.kind': 'feedback',
          'rlm.score.comment': 'wrong answer after all',
          'rlm.score.source': 'user',
        });
        // The ended child's late score: in the root's trace, under the child's span.
        const judge = late.find((s) => s.attributes['rlm.score.name'] === 'judge')!;
        expect(judge.traceId).toBe(traceId);
        expect(judge.parentSpanId).toBe(childSpan.spanId);
        expect(judge.attributes).toEqual({
          'rlm.run_id': 'scored-child',
          'rlm.score.name': 'judge',
          'rlm.score.value': 'fail',
          'rlm.score.kind': 'score',
        });
        // A run this process never saw: its derived trace and span ids.
        const unseen = late.find((s) => s.attributes['rlm.score.name'] === 'late')!;
        expect(unseen.traceId).toBe(traceIdFromRunId('never-seen-run'));
        expect(unseen.parentSpanId).toBe(spanIdFromRunId('never-seen-run'));
        expect(unseen.attributes['rlm.score.value']).toBe(3);
        expect(sink.status()).toMatchObject({
          spans_failed: 0,
          spans_dropped: 0,
          spans_skipped: 0,
          authFailures: 0,
        });
        expect(sink.status().spans_exported).toBe(receiver.spans.length);
      } finally {
        await receiver.close();
      }
    });
  }

  it('a score that is not one (no name, an object value) is counted as a bad event, nothing sent', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
      });
      sink.onScore('r', { name: '', value: 1, kind: 'score', at: new Date().toISOString() });
      sink.onScore('r', {
        name: 'n',
        value: { nested: true } as unknown as number,
        kind: 'score',
        at: new Date().toISOString(),
      });
      await sink.forceFlush();
      expect(receiver.spans).toEqual([]);
      expect(sink.status().bad_events).toBe(2);
      await sink.shutdown();
    } finally {
      await receiver.close();
    }
  });
});

describe('content switches (recordContent: false) through a real export', () => {
  it('the exported spans keep timings, rewards and tokens but no code, output, task or answer', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new OpenTelemetrySink({
        protocol: 'http/protobuf',
        endpoint: receiver.url,
        metricsEnabled: false,
      });
      const obs = RLMObservability.withSinks([sink], {
        flushOnExit: false,
        logger: false,
        recordContent: false,
      });
      const run = obs.startRun({ task: 'summarise the private contract', environment: 'e' });
      run.step({
        action: { action: 'run_python', code: 'print(open("contract.txt").read())' },
        observation: { success: false, output: 'CONFIDENTIAL terms', error: 'KeyError: salary' },
        reward: 0.25,
        durationMs: 40,
        usage: { model: 'gpt-4.1-mini', inputTokens: 120, outputTokens: 30 },
      });
      run.end({ completed: true, finalAnswer: 'the secret clause' });
      const report = await obs.shutdown();
      expect(report.ok).toBe(true);
      const all = JSON.stringify(receiver.spans);
      for (const text of [
        'private contract',
        'contract.txt',
        'CONFIDENTIAL',
        'salary',
        'secret clause',
      ])
        expect(all).not.toContain(text);
      const step = receiver.spans.find((span) => span.name === 'rlm.step')!;
      expect(step.attributes).toMatchObject({
        'rlm.reward': 0.25,
        'rlm.success': false,
        'gen_ai.usage.input_tokens': 120,
        'gen_ai.usage.output_tokens': 30,
      });
      expect((step.endNs - step.startNs) / 1e6).toBeCloseTo(40, 3);
      expect(step.events.map((e) => Object.values(e.attributes)[0])).toEqual([
        '[content omitted: 34 chars]',
        '[content omitted: 18 chars]',
      ]);
      const root = receiver.spans.find((span) => span.name === 'rlm.run')!;
      expect(root.attributes['rlm.task']).toBe('[content omitted: 30 chars]');
    } finally {
      await receiver.close();
    }
  });
});

describe('environment and status', () => {
  it('createOtelSinkFromEnv reads the seed variables', () => {
    const off = createOtelSinkFromEnv({});
    expect(off.status()).toEqual({
      name: 'opentelemetry',
      enabled: false,
      available: false,
      detail: 'disabled',
      service_name: 'rlm-code',
      metrics_enabled: true,
      spans_ended: 0,
      spans_exported: 0,
      spans_failed: 0,
      spans_dropped: 0,
      spans_skipped: 0,
      open_runs: 0,
      authFailures: 0,
      authSkipped: 0,
      authPausedUntil: null,
    });
    const on = createOtelSinkFromEnv({
      DSPY_RLM_OTEL_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:pw@otel-collector.internal:4317',
      OTEL_SERVICE_NAME: 'my-rlm-service',
      DSPY_RLM_OTEL_METRICS_ENABLED: 'false',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-token=abc%20def',
    });
    expect(on.status()).toMatchObject({
      enabled: true,
      available: true,
      detail: 'http://otel-collector.internal:4317',
      service_name: 'my-rlm-service',
      metrics_enabled: false,
    });
    expect(parseOtlpHeaders('a=1, b = x%3Dy ,bad')).toEqual({ a: '1', b: 'x=y' });
    void on.shutdown();
  });
});
