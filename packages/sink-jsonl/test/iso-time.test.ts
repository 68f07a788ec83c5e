import { describe, expect, it } from 'vitest';
import { isoTime } from '../src/iso-time.js';

describe('isoTime', () => {
  it('writes what Date#toISOString writes, at the edges of seconds, days, months and leap years', () => {
    const edges = [
      0,
      1,
      999,
      1000,
      59_999,
      60_000,
      3_599_999,
      3_600_000,
      86_399_999,
      86_400_000,
      Date.UTC(2024, 1, 28, 23, 59, 59, 999),
      Date.UTC(2024, 1, 29, 0, 0, 0, 0),
      Date.UTC(2024, 1, 29, 12, 34, 56, 789),
      Date.UTC(2024, 2, 1, 0, 0, 0, 0),
      Date.UTC(2023, 11, 31, 23, 59, 59, 999),
      Date.UTC(2026, 10, 22, 14, 29, 6, 5),
      Date.UTC(2100, 1, 28, 23, 59, 59, 999),
      Date.UTC(2100, 2, 1, 0, 0, 0, 0),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    ];
    for (const ms of edges) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('agrees with Date#toISOString on 100,000 random times and on a run of consecutive milliseconds', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 100_000; i++) {
      const ms = Math.floor(random() * 253_402_300_799_999);
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
    // Going back and forth between days reuses the day's prefix only for its own day.
    const start = Date.UTC(2026, 10, 21, 23, 59, 58, 0);
    for (let ms = start; ms < start + 4_000; ms++)
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    expect(isoTime(start - 86_400_000)).toBe(new Date(start - 86_400_000).toISOString());
    expect(isoTime(start)).toBe(new Date(start).toISOString());
  });

  it('leaves times before 1970, from the year 10000 on, fractional or invalid to Date', () => {
    for (const ms of [-1, -86_400_001, 253_402_300_800_000, 8.64e15, 1.5, 1_763_766_000_000.25])
      expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
    expect(isoTime(Number.NaN)).toBe('Invalid Date');
    expect(isoTime(Number.POSITIVE_INFINITY)).toBe('Invalid Date');
    expect(isoTime(8.64e15 + 1)).toBe('Invalid Date');
  });
});
