/**
 * The automatic flush at the end of a process (`beforeExit`), and what happens after it when a
 * sink's SDK still holds the event loop (retrying a backend that is down).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-exit-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * A script that records one step and ends without a flush. Its sink's `forceFlush` starts an
 * SDK-style retry on a timer that keeps the loop alive (`retryMs`; 0: none) and settles only
 * when `settles`; the process's exit code is set to 3 beforehand.
 */
function run(name: string, options: object, retryMs: number, settles: boolean, unref = false) {
  const marker = path.join(dir, `${name}.retried`);
  const script = `
    import * as fs from 'node:fs';
    import { RLMObservability } from ${JSON.stringify(core)};
    const sink = {
      name: 'retrying',
      status: () => ({ name: 'retrying', enabled: true, available: true, detail: '' }),
      onRunStart() {},
      onStep() {},
      onRunEnd() {},
      forceFlush() {
        if (${unref}) {
          // An SDK whose retry waits on an unref'ed timer: only the exit flush holds the loop.
          return new Promise((resolve) => {
            setTimeout(() => { fs.writeFileSync(${JSON.stringify(marker)}, 'ran'); resolve(); }, ${retryMs}).unref();
          });
        }
        if (${retryMs} > 0) setTimeout(() => fs.writeFileSync(${JSON.stringify(marker)}, 'ran'), ${retryMs});
        return ${settles} ? Promise.resolve() : new Promise(() => {});
      },
      shutdown() {},
    };
    const obs = RLMObservability.withSinks([sink], { exitFlushTimeoutMs: 300, ...${JSON.stringify(options)} });
    obs.onRunStart('r', { task: 't', environment: 'e', params: {} });
    obs.onStep('r', { event: { step: 1 }, cumulativeReward: 0 });
    process.exitCode = 3;
  `;
  const file = path.join(dir, `${name}.mjs`);
  fs.writeFileSync(file, script);
  const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stderr: result.stderr, retried: fs.existsSync(marker) };
}

describe('the end of a process without a flush', () => {
  it("by default never ends the process itself: a sink's work that holds it is waited for", () => {
    const waited = run('default', {}, 2_000, false);
    expect(waited.retried).toBe(true);
    expect(waited.status).toBe(3);
    expect(waited.stderr).not.toContain('ending the process');
  });

  it("by default the application's own beforeExit work is not cut short", () => {
    const marker = path.join(dir, 'app-upload.done');
    const script = `
      import * as fs from 'node:fs';
      import { RLMObservability } from ${JSON.stringify(core)};
      const sink = {
        name: 'quiet',
        status: () => ({ name: 'quiet', enabled: true, available: true, detail: '' }),
        onRunStart() {}, onStep() {}, onRunEnd() {},
        forceFlush: () => Promise.resolve(),
      };
      const obs = RLMObservability.withSinks([sink], { exitFlushTimeoutMs: 300 });
      let uploading = false;
      process.on('beforeExit', () => {
        if (uploading) return;
        uploading = true;
        // The application's own last upload, started when its loop ran dry.
        setTimeout(() => fs.writeFileSync(${JSON.stringify(marker)}, 'done'), 1_500);
      });
      const run = obs.startRun({ task: 't' });
      run.end();
    `;
    const file = path.join(dir, 'app-upload.mjs');
    fs.writeFileSync(file, script);
    const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(fs.existsSync(marker)).toBe(true);
  });

  it("opt-in exitGraceMs ends the process that long after the exit flush when a sink's work still holds it", () => {
    // The retry would come 5 s later; the process ends 1 s after the 300 ms flush deadline.
    const ended = run('grace', { exitGraceMs: 1_000 }, 5_000, false);
    expect(ended.retried).toBe(false);
    expect(ended.status).toBe(3); // the application's exit code, kept
    expect(ended.stderr).toContain(
      'ending the process: sink work still kept it alive 1000 ms after the exit flush',
    );
  });

  it('with exitGraceMs: false it waits for that work', () => {
    const waited = run('wait', { exitGraceMs: false }, 2_000, false);
    expect(waited.retried).toBe(true);
    expect(waited.status).toBe(3);
    expect(waited.stderr).toContain("sink 'retrying' did not finish flush before the deadline");
    expect(waited.stderr).not.toContain('ending the process');
  });

  it('a flush that leaves nothing behind: the process exits by itself, nothing said', () => {
    const clean = run('clean', { exitGraceMs: 1_000 }, 0, true);
    expect(clean).toEqual({ status: 3, stderr: '', retried: false });
  });

  it("the exit flush holds the process until it is over: a sink's work on unref'ed timers gets its time", () => {
    const held = run('held', { exitFlushTimeoutMs: 5_000 }, 200, true, true);
    expect(held).toEqual({ status: 3, stderr: '', retried: true });
  });

  it('work that ends within the grace period is waited for', () => {
    const quick = run('quick', { exitGraceMs: 3_000 }, 200, true);
    expect(quick).toEqual({ status: 3, stderr: '', retried: true });
  });
});

describe('the exit hook holds only coordinators with something to flush', () => {
  it('a coordinator dropped after flush() (no shutdown) is garbage-collected; one with unflushed events is kept for the exit flush', () => {
    const script = `
      import { RLMObservability } from ${JSON.stringify(core)};
      const sink = () => ({
        name: 'big',
        payload: new Uint8Array(1 << 20),
        status: () => ({ name: 'big', enabled: true, available: true, detail: '' }),
        onRunStart() {}, onStep() {}, onRunEnd() {},
      });
      const flushed = [];
      const unflushed = [];
      // In a function of its own: a suspended async frame may keep its last value alive.
      const flushedOne = async () => {
        const obs = RLMObservability.withSinks([sink()], { logger: false });
        const run = obs.startRun({ task: 't' });
        run.end();
        await obs.flush();
        return new WeakRef(obs);
      };
      for (let i = 0; i < 20; i++) flushed.push(await flushedOne());
      for (let i = 0; i < 5; i++) {
        const obs = RLMObservability.withSinks([sink()], { logger: false });
        obs.startRun({ task: 't' }).end();
        unflushed.push(new WeakRef(obs));
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
      globalThis.gc();
      const alive = (refs) => refs.map((r) => (r.deref() === undefined ? 0 : 1)).join('');
      console.log(JSON.stringify({ flushed: alive(flushed), unflushed: alive(unflushed) }));
    `;
    const file = path.join(dir, 'held.mjs');
    fs.writeFileSync(file, script);
    const result = spawnSync(process.execPath, ['--expose-gc', file], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout.trim())).toEqual({
      flushed: '0'.repeat(20),
      unflushed: '11111',
    });
  });
});
