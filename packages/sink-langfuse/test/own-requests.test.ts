/**
 * The sink's own requests (the key check, `check()`, the score batches) run with
 * OpenTelemetry tracing suppressed, so an application's HTTP/undici instrumentation never
 * records them as spans of its traces (issue 11: none of ours leak into its exporter).
 */
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LangfuseSink } from '../src/index.js';

afterEach(() => {
  vi.unstubAllGlobals();
  context.disable();
});

describe("the langfuse sink's own requests", () => {
  it('the key check, check() and the score batches (timer and flush) run with tracing suppressed, inside an application span', async () => {
    const manager = new AsyncLocalStorageContextManager();
    manager.enable();
    expect(context.setGlobalContextManager(manager)).toBe(true);
    const seen: Array<{ method: string; path: string; suppressed: boolean; traceId?: string }> = [];
    vi.stubGlobal('fetch', async (url: URL | string, init?: RequestInit) => {
      const active = context.active();
      seen.push({
        method: init?.method ?? 'GET',
        path: new URL(String(url)).pathname,
        suppressed: isTracingSuppressed(active),
        traceId: trace.getSpanContext(active)?.traceId,
      });
      return new Response(JSON.stringify({ data: [], successes: [], errors: [] }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    });
    // An application request's span is active, as with an instrumented HTTP server.
    const app = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: 1,
    });
    const sink = await context.with(app, async () => {
      // The context manager works: the application's context is active, tracing not suppressed.
      expect(trace.getSpanContext(context.active())?.traceId).toBe('a'.repeat(32));
      expect(isTracingSuppressed(context.active())).toBe(false);
      const sink = new LangfuseSink({
        publicKey: 'pk-lf-own',
        secretKey: 'sk-lf-own-secret',
        baseUrl: 'http://langfuse.test',
        spanExporter: new InMemorySpanExporter(),
      });
      await sink.ready;
      expect((await sink.check()).ok).toBe(true);
      const at = new Date().toISOString();
      sink.onRunStart('own', { task: 't', environment: 'e', params: {} });
      // Sent by the sink's timer (about a second on), in the context the score came in.
      sink.onScore('own', { name: 'timer', value: 1, kind: 'score', at });
      for (let i = 0; i < 60 && seen.length < 3; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      // Sent by a flush.
      sink.onScore('own', { name: 'flushed', value: 1, kind: 'score', at });
      await sink.forceFlush();
      return sink;
    });
    await sink.shutdown();
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/public/projects',
      'GET /api/public/projects',
      'POST /api/public/ingestion',
      'POST /api/public/ingestion',
    ]);
    // Each in the application's context (so the check above means something), suppressed.
    for (const request of seen)
      expect(request).toMatchObject({ suppressed: true, traceId: 'a'.repeat(32) });
    // The application's context is left as it was.
    expect(isTracingSuppressed(context.active())).toBe(false);
  });
});
