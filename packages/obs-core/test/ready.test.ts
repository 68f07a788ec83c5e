import { afterEach, describe, expect, it, vi } from 'vitest';
import { readyOrLater } from '../src/ready.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('readyOrLater', () => {
  it('returns when the check is done, or once maxMs pass when it never is', async () => {
    vi.useFakeTimers();
    let done = false;
    void readyOrLater(Promise.resolve()).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);

    done = false;
    void readyOrLater(new Promise(() => {})).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    await expect(readyOrLater(Promise.reject(new Error('refused')), 50)).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });
});
