import { describe, expect, it } from 'vitest';
import {
  formatTraceparent,
  newRunId,
  parseTraceparent,
  spanIdFromRunId,
  traceIdFromRunId,
} from '../src/ids.js';

describe('ids', () => {
  it('derives stable, distinct trace and span ids from run ids', () => {
    expect(traceIdFromRunId('a')).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdFromRunId('a')).toBe(traceIdFromRunId('a'));
    expect(traceIdFromRunId('a')).not.toBe(traceIdFromRunId('b'));
    expect(spanIdFromRunId('a')).toMatch(/^[0-9a-f]{16}$/);
    expect(spanIdFromRunId('a', 1)).not.toBe(spanIdFromRunId('a', 2));
    expect(spanIdFromRunId('a', 1)).not.toBe(spanIdFromRunId('a'));
  });

  it('keeps the ids of earlier versions (a replay must land on the same trace and spans)', () => {
    const pinned = [
      [
        'run-1',
        '33677abdb8b7a9c1d0624a58a81a10f5',
        '79b55b79f8d399fe',
        'c6a6e38de47ff84f',
        '7cc9b76cd24063a9',
      ],
      [
        'a\ud800b',
        '40f42301516f38f94ae901940bb0003d',
        '5ca70348c284f18f',
        'ba1a537369392921',
        '2464b704f68ee89a',
      ],
      [
        'ü-🙂',
        '4e3aaaa029bc3568e720609031ab207f',
        '5bb1855f72b7c226',
        '53d7907ca42bcd95',
        'ddd61817756d2c25',
      ],
    ] as const;
    // twice: the second time from the ids remembered for recent runs
    for (let round = 0; round < 2; round++)
      for (const [runId, traceId, runSpan, step7, llm] of pinned) {
        expect(traceIdFromRunId(runId)).toBe(traceId);
        expect(spanIdFromRunId(runId)).toBe(runSpan);
        expect(spanIdFromRunId(runId, 7)).toBe(step7);
        expect(spanIdFromRunId(runId, '3:llm:0')).toBe(llm);
      }
  });

  it('parses and formats W3C traceparent', () => {
    const header = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const ctx = parseTraceparent(header)!;
    expect(ctx).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    expect(formatTraceparent(ctx)).toBe(header);
    for (const bad of [
      undefined,
      42,
      '',
      'garbage',
      `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
      `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`,
      `00-${'a'.repeat(32)}-${'0'.repeat(16)}-01`,
      `${header}-extra`,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
    expect(() => formatTraceparent({ traceId: 'x', spanId: 'y', traceFlags: 0 })).toThrow(
      TypeError,
    );
  });

  it('run ids are UUID v7 and sort by time', () => {
    const a = newRunId(1_000);
    const b = newRunId(2_000);
    expect(a < b).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => newRunId())).size).toBe(1000);
  });
});
