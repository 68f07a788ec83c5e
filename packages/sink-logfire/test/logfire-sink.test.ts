import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { RLMObservability, spanIdFromRunId, traceIdFromRunId } from '@rlm/obs-core';
import { closedPort, describeSinkConformance } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';
import { type ReceiverMode, startHttpReceiver } from '../../otel-common/test/receivers.js';
import {
  baseUrlForToken,
  createLogfireSinkFromEnv,
  createSink,
  LogfireSink,
} from '../src/index.js';

const TOKEN = 'pylf_v1_us_testtokenvalue0123456789';

describe('logfire sink: seed 000 on Logfire conventions', () => {
  it('sends the run span and the five logs with their levels, attributes and parentage', async () => {
    const receiver = await startHttpReceiver();
    try {
      const sink = new LogfireSink({
        token: TOKEN,
        baseUrl: receiver.url,
        projectName: 'my-rlm-project',
      });
      expect(sink.status()).toEqual({
        name: 'logfire',
        enabled: true,
        available: true,
        detail: 'project: my-rlm-project',
        project_name: 'my-rlm-project',
      });
      const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
      const run = obs.startRun({
        runId: 'lf-run',
        task: `T${'a'.repeat(300)}`,
        environment: 'pure_rlm',
        params: { max_steps: 4 },
      });
      run.step({
        action: { action: 'run_python', code: 'x' },
        observation: { success: true, output: 'ok' },
        reward: 0.5,
        usage: { model: 'gpt-4.1', inputTokens: 10, outputTokens: 2 },
      });
      run.step({
        action: { action: 'run_python' },
        observation: { success: false, error: `E${'r'.repeat(400)}` },
        reward: -0.1,
      });
      const child = run.child({ runId: 'lf-child', task: 'nested', environment: 'pure_rlm' });
      child.end({ completed: false });
      run.end({ finalAnswer: 'done' });
      const report = await obs.shutdown();
      expect(report.ok).toBe(true);
      expect(receiver.paths.every((p) => p === '/v1/traces')).toBe(true);
      expect(receiver.headers[0]!.authorization).toBe(TOKEN);
      expect(receiver.headers[0]!['content-type']).toBe('application/x-protobuf');

      const spans = receiver.spans;
      const byName = (name: string, runId = 'lf-run') =>
        spans.filter((s) => s.name === name && s.attributes.run_id === runId);
      const root = byName('rlm.run {run_id}')[0]!;
      expect(root.traceId).toBe(traceIdFromRunId('lf-run'));
      expect(root.spanId).toBe(spanIdFromRunId('lf-run'));
      expect(root.parentSpanId).toBe('');
      expect(root.resource['service.name']).toBe('my-rlm-project');
      expect(root.attributes).toMatchObject({
        run_id: 'lf-run',
        environment: 'pure_rlm',
        max_steps: 4,
        'logfire.msg_template': 'rlm.run {run_id}',
        'logfire.msg': 'rlm.run lf-run',
        'logfire.span_type': 'span',
        'logfire.level_num': 9,
        'logfire.tags': ['rlm'],
      });
      expect(String(root.attributes.task).indexOf('…')).toBe(200);
      expect(JSON.parse(String(root.attributes['logfire.json_schema']))).toEqual({
        type: 'object',
        properties: { run_id: {}, task: {}, environment: {}, max_steps: {} },
      });

      const logs = spans.filter(
        (s) => s.attributes['logfire.span_type'] === 'log' && s.parentSpanId === root.spanId,
      );
      expect(
        logs.map((s) => [s.name, s.attributes['logfire.msg'], s.attributes['logfire.level_num']]),
      ).toEqual([
        ['RLM run started', 'RLM run started', 9],
        ['RLM step {step} completed', 'RLM step 1 completed', 9],
        ['RLM step {step} failed', 'RLM step 2 failed', 13],
        ['RLM run completed', 'RLM run completed', 9],
      ]);
      expect(logs[0]!.attributes).toMatchObject({ run_id: 'lf-run', environment: 'pure_rlm' });
      expect(logs[1]!.attributes).toMatchObject({
        step: 1,
        run_id: 'lf-run',
        action: 'run_python',
        reward: 0.5,
        cumulative_reward: 0.5,
        'gen_ai.request.model': 'gpt-4.1',
        'gen_ai.usage.input_tokens': 10,
      });
      expect(logs[2]!.attributes).toMatchObject({
        step: 2,
        run_id: 'lf-run',
        action: 'run_python',
        reward: -0.1,
        error: `E${'r'.repeat(199)}`,
      });
      expect(logs[3]!.attributes).toMatchObject({ run_id: 'lf-run', steps: 2, total_reward: 0.4 });
      for (const log of logs) expect(log.endNs).toBe(log.startNs);

      const childSpan = byName('rlm.run {run_id}', 'lf-child')[0]!;
      expect(childSpan.parentSpanId).toBe(root.spanId);
      expect(childSpan.attributes['logfire.level_num']).toBe(13);
      const childLogs = spans.filter((s) => s.parentSpanId === childSpan.spanId).map((s) => s.name);
      expect(childLogs).toEqual(['RLM run started', 'RLM run did not complete']);
      expect(sink.stats()).toMatchObject({
        spans_exported: spans.length,
        spans_failed: 0,
        spans_dropped: 0,
      });
    } finally {
      await receiver.close();
    }
  });

  it('picks the region from the token, or LOGFIRE_BASE_URL', () => {
    expect(baseUrlForToken('pylf_v1_eu_abc')).toBe('https://logfire-eu.pydantic.dev');
    expect(baseUrlForToken('pylf_v2_us_abc')).toBe('https://logfire-us.pydantic.dev');
    expect(baseUrlForToken('legacy-token')).toBe('https://logfire-us.pydantic.dev');
    expect(new LogfireSink({ token: 'pylf_v1_eu_zzz' }).baseUrl).toBe(
      'https://logfire-eu.pydantic.dev',
    );
    expect(
      createLogfireSinkFromEnv({
        DSPY_RLM_LOGFIRE_ENABLED: 'true',
        LOGFIRE_TOKEN: 'pylf_v1_eu_zzz',
        LOGFIRE_BASE_URL: 'http://127.0.0.1:1/',
      }).baseUrl,
    ).toBe('http://127.0.0.1:1');
  });

  it("shows the seed's troubleshooting cases as status details, never the token", () => {
    expect(createLogfireSinkFromEnv({}).status()).toEqual({
      name: 'logfire',
      enabled: false,
      available: false,
      detail: 'disabled',
      project_name: 'rlm-code',
    });
    const noToken = createLogfireSinkFromEnv({
      DSPY_RLM_LOGFIRE_ENABLED: 'true',
      LOGFIRE_PROJECT_NAME: 'p',
    });
    expect(noToken.status()).toMatchObject({ enabled: true, available: false, project_name: 'p' });
    expect(noToken.status().detail).toMatch(/^unavailable: no token \(set LOGFIRE_TOKEN/);
    const on = createSink({ token: TOKEN });
    expect(JSON.stringify(on.status())).not.toContain(TOKEN);
    void on.shutdown();
  });

  it('never reads .logfire/ unless asked', () => {
    const sink = createSink({}, { env: {}, configDir: '/nonexistent' });
    expect(sink.status().available).toBe(false);
  });

  it('useGlobalProvider emits through the application’s configuration without a token', async () => {
    const sink = new LogfireSink({ useGlobalProvider: true });
    expect(sink.status()).toMatchObject({ available: true, detail: 'project: rlm-code' });
    expect(() => sink.onRunStart('g', { task: 't', environment: 'e', params: {} })).not.toThrow();
    await sink.shutdown();
  });
});

describe('a Logfire API that refuses, throttles, fails or hangs', () => {
  for (const mode of ['401', '429', '503', 'hang', 'down'] as const) {
    it(`${mode}: counted, the caller unaffected, memory bounded`, async () => {
      const receiver = await startHttpReceiver();
      const url = mode === 'down' ? `http://127.0.0.1:${await closedPort()}` : receiver.url;
      if (mode !== 'down') receiver.mode = mode as ReceiverMode;
      try {
        const sink = new LogfireSink({
          token: TOKEN,
          baseUrl: url,
          exportTimeoutMs: 300,
          maxQueueSize: 500,
          scheduledDelayMs: 20,
        });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        const before = process.memoryUsage().heapUsed;
        const run = obs.startRun({ task: 'outage' });
        for (let i = 0; i < 5_000; i++)
          run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
        run.end();
        expect(obs.status()[0]!.counters).toMatchObject({
          delivered: 5_002,
          failed: 0,
          pending: 0,
        });
        const report = await obs.shutdown({ timeoutMs: 20_000 });
        expect(report.sinks[0]!.ok).toBe(false);
        const stats = sink.stats();
        expect(stats.spans_exported).toBe(0);
        expect(stats.spans_failed + stats.spans_dropped).toBe(stats.spans_ended);
        expect(stats.spans_ended).toBe(5_003);
        expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
        if (mode === '401') expect(report.sinks[0]!.error).toMatch(/401|Unauthorized/i);
      } finally {
        await receiver.close();
      }
    });
  }
});

const exporters = new WeakMap<LogfireSink, InMemorySpanExporter>();
describeSinkConformance(
  () => {
    const exporter = new InMemorySpanExporter();
    const sink = new LogfireSink({
      spanExporter: exporter,
      token: 'pylf_v1_us_conformance-secret-token',
    });
    exporters.set(sink, exporter);
    return sink;
  },
  {
    title: 'logfire conformance',
    secrets: ['conformance-secret-token'],
    readBack: (sink, runId) => {
      const mine = (exporters.get(sink)?.getFinishedSpans() ?? []).filter(
        (s) => s.attributes.run_id === runId,
      );
      return {
        steps: mine
          .filter((s) => String(s.name).startsWith('RLM step'))
          .map((s) => Number(s.attributes.step)),
        ended: mine.some((s) => s.name === 'rlm.run {run_id}'),
      };
    },
  },
);

describe('logfire open runs', () => {
  it('ends the oldest run (rlm.evicted) beyond maxOpenRuns and keeps the others open', async () => {
    const exporter = new InMemorySpanExporter();
    const sink = new LogfireSink({ spanExporter: exporter, token: TOKEN, maxOpenRuns: 2 });
    for (const id of ['a', 'b', 'c'])
      sink.onRunStart(id, { task: id, environment: 'test', params: {} });
    await sink.forceFlush();
    const runSpans = () => exporter.getFinishedSpans().filter((s) => s.name === 'rlm.run {run_id}');
    expect(runSpans().map((s) => [s.attributes.run_id, s.attributes['rlm.evicted']])).toEqual([
      ['a', true],
    ]);
    sink.onRunEnd('b', { result: { completed: true } });
    sink.onRunEnd('c', { result: { completed: true } });
    await sink.forceFlush();
    expect(
      runSpans()
        .map((s) => s.attributes.run_id)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(sink.stats().spans_ended).toBe(sink.stats().spans_exported);
    await sink.shutdown();
  });
});
