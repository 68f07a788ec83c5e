import { describe, expect, it } from 'vitest';
import { DeferredHooks } from '../src/index.js';

describe('DeferredHooks', () => {
  it('runs afterDrain once after a drain that ran calls, not after an empty one', async () => {
    const order: string[] = [];
    const hooks = new DeferredHooks(undefined, () => order.push('after'));
    hooks.run(() => order.push('a'));
    hooks.run(() => order.push('b'));
    expect(order).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['a', 'b', 'after']);
    hooks.drain();
    expect(order).toEqual(['a', 'b', 'after']);
  });
});
