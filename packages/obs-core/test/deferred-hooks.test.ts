import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import ts from 'typescript';
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

/**
 * In a process of its own (vitest's worker has traffic of its own that wakes the event loop),
 * with nothing else loaded: a hook queued on a quiet loop starts work (a timer of 0 ms, as an
 * export would); the only other thing on the loop is a timer of 200 ms. Prints the order
 * things happened in.
 */
const QUIET_LOOP = `
const { DeferredHooks } = await import('data:text/javascript,' + encodeURIComponent(process.argv[1]));
await new Promise((resolve) => setTimeout(resolve, 10));
const order = [];
const hooks = new DeferredHooks();
hooks.run(() => {
  order.push('hooks');
  setTimeout(() => order.push('work the hooks started'), 0);
});
setTimeout(() => order.push('timer'), 200);
process.on('exit', () => process.stdout.write(JSON.stringify(order)));
`;

describe('DeferredHooks on a quiet event loop', () => {
  it('drains on the next turn, not when some unrelated timer next wakes the loop', async () => {
    // The source as plain JavaScript (it imports nothing), so the child loads no TS tooling.
    const source = fs.readFileSync(new URL('../src/deferred-hooks.ts', import.meta.url), 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', QUIET_LOOP, js],
      { timeout: 30_000 },
    );
    // An unreferenced immediate would run only when the 200 ms timer woke the loop: a sink's
    // flush or backpressure waiting for the hooks would wait with it.
    expect(JSON.parse(stdout)).toEqual(['hooks', 'work the hooks started', 'timer']);
  });
});
