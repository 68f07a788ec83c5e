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
