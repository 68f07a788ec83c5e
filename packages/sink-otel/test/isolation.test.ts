import { type Span, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { RLMObservability } from '@rlm/obs-core';
import { closedPort, describeSinkConformance } from '@rlm/obs-core/testing';
import { describe, expect, it } from 'vitest';
import { startHttpReceiver } from '../../otel-common/test/receivers.js';
import { OpenTelemetrySink } from '../src/index.js';

describe('never the global OpenTelemetry', () => {
  it('coexists with an application NodeSDK registered globally: neither leaks into the other', async () => {
    // The host's exporter keeps what it gets (an InMemorySpanExporter forgets on shutdown).
    const appSpans: ReadableSpan[] = [];
    const appExporter: SpanExporter = {
      export: (spans, done) => {
        appSpans.push(...spans);
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown: async () => {},
    };
    const sdk = new NodeSDK({
      spanProcessors: [new SimpleSpanProcessor(appExporter)],
      instrumentations: [],
      serviceName: 'host-app',
    });
    sdk.start();
    const globalBefore = (
      trace.getTracerProvider() as unknown as { getDelegate(): unknown }
    ).getDelegate();
    const ours = new InMemorySpanExporter();
    const sink = new OpenTelemetrySink({ spanExporter: ours, metricsEnabled: false });
    const obs = RLMObservability.withSinks([sink], { flushOnExit: false });
    // The app's own active span around our run: our spans must not become its children.
    await trace.getTracer('host').startActiveSpan('app.request', async (appSpan: Span) => {
      const run = obs.startRun({ task: 'inside the app span' });
      run.step({ observation: { success: true }, reward: 1 });
      run.end();
      appSpan.end();
    });
    await obs.flush();
    const ourSpans = [...ours.getFinishedSpans()];
    expect((trace.getTracerProvider() as unknown as { getDelegate(): unknown }).getDelegate()).toBe(
      globalBefore,
    );
    await sdk.shutdown();
    await obs.shutdown();
    expect(appSpans.map((s) => s.name)).toEqual(['app.request']);
    expect(ourSpans.map((s) => s.name).sort()).toEqual(['rlm.run', 'rlm.step']);
    const appTrace = appSpans[0]!.spanContext().traceId;
    expect(ourSpans.every((s) => s.spanContext().traceId !== appTrace)).toBe(true);
    expect(ourSpans.find((s) => s.name === 'rlm.run')!.parentSpanContext).toBeUndefined();
    expect(ourSpans[0]!.resource.attributes['service.name']).toBe('rlm-code');
    expect(appSpans[0]!.resource.attributes['service.name']).toBe('host-app');
  });
});

describe('a backend that is down, failing or hanging', () => {
  for (const mode of ['down', '503', 'hang'] as const) {
    it(`${mode}: a 10k-step run never waits, memory stays bounded, drops and failures are counted`, async () => {
      const receiver = await startHttpReceiver();
      const endpoint = mode === 'down' ? `http://127.0.0.1:${await closedPort()}` : receiver.url;
      if (mode !== 'down') receiver.mode = mode;
      try {
        const sink = new OpenTelemetrySink({
          protocol: 'http/protobuf',
          endpoint,
          exportTimeoutMs: 300,
          maxQueueSize: 1000,
          metricsEnabled: false,
          scheduledDelayMs: 50,
        });
        const obs = RLMObservability.withSinks([sink], { flushOnExit: false, logger: false });
        const before = process.memoryUsage().heapUsed;
        const run = obs.startRun({ task: 'outage' });
        for (let i = 0; i < 10_000; i++)
          run.step({
            action: { action: 'run_python', code: 'x = 1' },
            observation: { success: true, output: 'ok' },
            reward: 1,
          });
        run.end();
        const report = await obs.shutdown({ timeoutMs: 20_000 });
        // The first events may wait in the coordinator's queue while the span queue is full
        // and no export has failed yet (backpressure); by the end every one was delivered.
        // (10,002 events and the two end-of-run scores)
        expect(obs.status()[0]!.counters).toMatchObject({
          delivered: 10_004,
          failed: 0,
          pending: 0,
        });
        const status = sink.status();
        expect(status.spans_ended).toBe(10_001);
        expect(status.spans_exported).toBe(0);
        expect((status.spans_failed as number) + (status.spans_dropped as number)).toBe(10_001);
        // Memory stays bounded: beyond the span queue (1,000) and the exports under way (at most
        // two batches of 512) every span was dropped and counted, none held.
        expect(status.spans_failed as number).toBeLessThanOrEqual(1000 + 2 * 512);
        expect(status.spans_dropped as number).toBeGreaterThanOrEqual(10_001 - (1000 + 2 * 512));
        expect(report.sinks[0]!.ok).toBe(false);
        expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
      } finally {
        await receiver.close();
      }
    });
  }
});

/** An in-memory backend that keeps what it got (an InMemorySpanExporter forgets on shutdown). */
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const exporters = new WeakMap<OpenTelemetrySink, InMemorySpanExporter>();
describeSinkConformance(
  () => {
    const exporter = new KeepingExporter();
    const sink = new OpenTelemetrySink({ spanExporter: exporter, metricsEnabled: false });
    exporters.set(sink, exporter);
    return sink;
  },
  {
    title: 'opentelemetry conformance',
    readBack: (sink, runId) => {
      const mine = (exporters.get(sink)?.getFinishedSpans() ?? []).filter(
        (s) => s.attributes['rlm.run_id'] === runId,
      );
      return {
        steps: mine
          .filter((s) => s.name === 'rlm.step')
          .map((s) => Number(s.attributes['rlm.step'])),
        ended: mine.some((s) => s.name === 'rlm.run'),
      };
    },
  },
);

describe('open runs', () => {
  it('ends the oldest run (rlm.evicted) beyond maxOpenRuns and keeps the others open', async () => {
    const exporter = new InMemorySpanExporter();
    const sink = new OpenTelemetrySink({
      spanExporter: exporter,
      metricsEnabled: false,
      maxOpenRuns: 2,
    });
    for (const id of ['a', 'b', 'c'])
      sink.onRunStart(id, { task: id, environment: 'test', params: {} });
    await sink.forceFlush();
    const early = exporter.getFinishedSpans().filter((s) => s.name === 'rlm.run');
    expect(early.map((s) => [s.attributes['rlm.run_id'], s.attributes['rlm.evicted']])).toEqual([
      ['a', true],
    ]);
    sink.onRunStart('b', { task: 'b again', environment: 'test', params: {} }); // a known run: nothing evicted
    sink.onRunEnd('b', { result: { completed: true } });
    sink.onRunEnd('c', { result: { completed: true } });
    await sink.forceFlush();
    const runs = exporter.getFinishedSpans().filter((s) => s.name === 'rlm.run');
    expect(runs.filter((s) => s.attributes['rlm.evicted'] === true)).toHaveLength(1);
    expect(runs.map((s) => s.attributes['rlm.run_id']).sort()).toEqual(['a', 'b', 'c']);
    await sink.shutdown();
  });
});
