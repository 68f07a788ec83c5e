import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { HookGuard, PrivateTracing } from '@rlm/otel-common';
import { describe, expect, it } from 'vitest';
import { startHttpReceiver } from '../../otel-common/test/receivers.js';
import { OpenTelemetrySink } from '../src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/burst-exit.mjs', import.meta.url));
const run = promisify(execFile);

/** An exporter that answers only when told (a backend that is slow to acknowledge). */
function slowExporter(): SpanExporter & { exported: number; answer(): void; waiting: number } {
  const pending: Array<() => void> = [];
  const exporter = {
    exported: 0,
    get waiting() {
      return pending.length;
    },
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      pending.push(() => {
        exporter.exported += spans.length;
        done({ code: ExportResultCode.SUCCESS });
      });
    },
    answer() {
      for (const reply of pending.splice(0)) reply();
    },
    shutdown: async () => {},
  };
  return exporter;
}

const nextTurns = (n: number) =>
  new Promise<void>((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });

describe('a burst of events (DESIGN 4.1: never stalls; 4.4: nothing lost at exit)', () => {
  for (const target of ['memory', 'http'] as const) {
    it(`${target}: 1,500 runs in a row, then the process just ends: every span is delivered`, async () => {
      const receiver = target === 'http' ? await startHttpReceiver() : undefined;
      try {
        const { stdout } = await run(
          process.execPath,
          [fixture, receiver ? receiver.url : 'memory', '1500'],
          { timeout: 60_000 },
        );
        const result = JSON.parse(stdout) as { exported: number; dropped: number };
        // A run span and a step span per run.
        expect(result).toEqual({ exported: 3000, dropped: 0 });
        if (receiver) {
          expect(receiver.spans.length).toBe(3000);
          expect(receiver.spans.filter((s) => s.name === 'rlm.run').length).toBe(1500);
        }
      } finally {
        await receiver?.close();
      }
    });
  }

  it('hook calls still queued never cause a hold: only spans really waiting for export do', () => {
    const exporter = slowExporter();
    const sink = new OpenTelemetrySink({ spanExporter: exporter, metricsEnabled: false });
    sink.onRunStart('r', { task: 't', environment: 'e', params: {} });
    let firstHold = -1;
    for (let i = 0; i < 3000 && firstHold < 0; i++) {
      const hold = sink.onStep('r', {
        event: { step: i + 1, observation: { success: true } },
        cumulativeReward: 0,
      });
      if (hold) firstHold = i;
    }
    // Three quarters of the 2,048-span queue: 1,536 step spans ended and not exported yet.
    const status = sink.status();
    expect(firstHold).toBe(1535);
    expect(status.spans_ended).toBe(1536);
    expect(status.spans_dropped).toBe(0);
    exporter.answer();
    void sink.shutdown();
  });
});

describe('PrivateTracing.whenRoom for sinks that pass their queued hook calls as upcoming', () => {
  it('holds for hook calls not run yet only until the next turn, not until an export', async () => {
    const tracing = new PrivateTracing({
      resource: {},
      exporter: new InMemorySpanExporter(),
      endpoint: 'http://127.0.0.1:9',
    });
    // Nothing ended, but 2,000 spans announced: a hold, and not one that waits for an export
    // (none is under way) or for the 2 s stall timer.
    const hold = tracing.whenRoom(2000);
    expect(hold).toBeDefined();
    const outcome = await Promise.race([
      hold!.then(() => 'released'),
      nextTurns(3).then(() => 'still held'),
    ]);
    expect(outcome).toBe('released');
    // And no stall was declared: spans that really wait are still held for.
    tracing.ended(1536);
    expect(tracing.whenRoom()).toBeDefined();
    await tracing.shutdown().catch(() => {});
  });

  it('whenRoomAfter runs the queued hook calls before measuring, and holds for none of them', () => {
    const tracing = new PrivateTracing({
      resource: {},
      exporter: new InMemorySpanExporter(),
      endpoint: 'http://127.0.0.1:9',
    });
    const hooks = new HookGuard();
    let ran = 0;
    for (let i = 0; i < 1000; i++) hooks.run(() => ran++);
    expect(tracing.whenRoomAfter(hooks)).toBeUndefined();
    expect(ran).toBe(1000);
    expect(hooks.pending).toBe(0);
  });
});
