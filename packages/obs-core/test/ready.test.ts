import { afterEach, describe, expect, it, vi } from 'vitest';
import { holdWhilePending, readyOrLater } from '../src/ready.js';

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

describe('holdWhilePending', () => {
  it('holds the loop while the work is pending; with a timeout it settles by it and lets go', async () => {
    vi.useFakeTimers();
    // Without a timeout: the work's own outcome, the hold released when it settles.
    let finish!: (value: string) => void;
    const work = holdWhilePending(new Promise<string>((resolve) => (finish = resolve)));
    expect(vi.getTimerCount()).toBe(1);
    finish('done');
    await expect(work).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);

    // With a timeout: rejects at the deadline, nothing left holding the loop.
    const late = holdWhilePending(new Promise(() => {}), 300);
    const outcome = late.catch((error: Error) => error.message);
    await vi.advanceTimersByTimeAsync(299);
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(outcome).resolves.toBe('flush did not finish within 300 ms');
    expect(vi.getTimerCount()).toBe(0);

    // A deadline no timer can hold (2^31 ms or more, Infinity): waits for the work.
    const long = holdWhilePending(Promise.resolve(1), Number.POSITIVE_INFINITY, 'check');
    await expect(long).resolves.toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
