/**
 * `recordContent: false` keeps content away from remote sinks; a replay of such a run must
 * keep it away too — per run (the start line says what the run withheld) and globally (the
 * config's switch holds for `rlm-obs replay`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObservability, RLMObservability } from '@rlm/obs-core';
import { MemorySink } from '@rlm/obs-core/testing';
import { createJsonlSink, openJsonlStore } from '@rlm/sink-jsonl';
import { afterEach, describe, expect, it } from 'vitest';
import type { Io } from '../src/output.js';
import { main } from '../src/program.js';
import { replayRuns } from '../src/replay.js';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const PRIVATE = /PRIVATE|SECRET_CODE/;

function privateRun(obs: RLMObservability, options: Record<string, unknown> = {}) {
  const run = obs.startRun({ task: 'PRIVATE TASK TEXT', sessionId: 's1', ...options });
  run.step({
    action: { action: 'run', code: 'SECRET_CODE()', rationale: 'PRIVATE REASON' },
    observation: { success: true, output: 'PRIVATE OUTPUT' },
    reward: 1,
  });
  run.end({ completed: true, finalAnswer: 'PRIVATE ANSWER' });
  return run;
}

/**
 * Hook calls as compared: replay gives a step recorded without its own timing the times it
 * was recorded (see withRecordedTimes), which the live call did not carry.
 */
function untimed(events: readonly unknown[]): unknown[] {
  return events.map((e) => {
    const copy = JSON.parse(JSON.stringify(e)) as {
      hook: string;
      payload: { event?: Record<string, unknown> };
    };
    if (copy.hook === 'onStep' && copy.payload.event) {
      delete copy.payload.event.startedAt;
      delete copy.payload.event.durationMs;
    }
    return copy;
  });
}

const quietIo = (): Io & { text: string[] } => {
  const text: string[] = [];
  return {
    text,
    out: (t) => text.push(t),
    err: (t) => text.push(t),
    colors: { green: String, red: String, yellow: String } as unknown as Io['colors'],
    isTTY: false,
  };
};

describe('replay withholds what the run withheld', () => {
  it('per run: the replayed remote sink gets exactly what the live one got', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-replay-content-'));
    const live = new MemorySink('remote-live');
    const obs = RLMObservability.withSinks([createJsonlSink({ dir }), live], {
      flushOnExit: false,
      logger: false,
    });
    const closed = privateRun(obs, { recordContent: false });
    const outputsOnly = privateRun(obs, { recordContent: { outputs: false } });
    const parent = obs.startRun({ task: 'parent', recordContent: false });
    const child = parent.child({ task: 'PRIVATE CHILD TASK' });
    child.step({ action: { action: 'run', code: 'SECRET_CODE()' }, reward: 1 });
    child.end();
    parent.end();
    const open = privateRun(obs);
    await obs.shutdown();
    // Live: the remote sink saw none of the withheld text.
    for (const run of [closed, child])
      expect(JSON.stringify(live.eventsOf(run.id))).not.toMatch(PRIVATE);
    expect(JSON.stringify(live.eventsOf(open.id))).toMatch(PRIVATE);
    // The local files keep the content and what the run withheld (obs-core hands local sinks
    // the run's resolved policy as `start.recordContent`).
    const starts = fs
      .readFileSync(path.join(dir, 'starts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { run_id: string; task: string; record_content?: unknown });
    const line = (id: string) => starts.find((l) => l.run_id === id);
    expect(line(closed.id)).toMatchObject({
      task: 'PRIVATE TASK TEXT',
      record_content: { inputs: false, outputs: false },
    });
    expect(line(child.id)?.record_content).toEqual({ inputs: false, outputs: false });
    expect(line(outputsOnly.id)?.record_content).toEqual({ inputs: true, outputs: false });
    expect(line(open.id)).not.toHaveProperty('record_content');

    const replayed = new MemorySink('remote-replay');
    const ids = [closed.id, outputsOnly.id, parent.id, child.id, open.id];
    const report = await replayRuns(openJsonlStore(dir), ids, replayed);
    expect(report.ok).toBe(true);
    for (const id of [closed.id, child.id])
      expect(JSON.stringify(replayed.eventsOf(id))).not.toMatch(PRIVATE);
    expect(JSON.stringify(replayed.eventsOf(outputsOnly.id))).not.toMatch(
      /PRIVATE (OUTPUT|ANSWER)/,
    );
    // Exactly as live (the run that withheld nothing included).
    for (const id of ids)
      expect(untimed(replayed.eventsOf(id))).toEqual(untimed(live.eventsOf(id)));
  });

  it("globally: `rlm-obs replay` applies the config's recordContent to the target sink", async () => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rlm-obs-replay-content-cfg-')));
    const recSink = path.join(dir, 'rec-sink.mjs');
    fs.writeFileSync(
      recSink,
      `import { appendFileSync } from 'node:fs';
export function createSink(options) {
  const w = (o) => appendFileSync(options.file, JSON.stringify(o) + '\\n');
  return {
    name: options.name,
    status: () => ({ name: options.name, enabled: true, available: true, detail: 'file' }),
    onRunStart: (runId, start) => w({ hook: 'onRunStart', runId, payload: start }),
    onStep: (runId, step) => w({ hook: 'onStep', runId, payload: step }),
    onRunEnd: (runId, end) => w({ hook: 'onRunEnd', runId, payload: end }),
  };
}
export default createSink;
`,
    );
    const liveFile = path.join(dir, 'live.jsonl');
    const replayFile = path.join(dir, 'replay.jsonl');
    const config = (file: string) => {
      const name = path.join(dir, `rlm-obs.config.${path.basename(file, '.jsonl')}.json`);
      fs.writeFileSync(
        name,
        JSON.stringify({
          recordContent: false,
          sinks: [
            ['jsonl', { dir: path.join(dir, 'obs') }],
            { use: recSink, options: { name: 'remote', file } },
          ],
        }),
      );
      return name;
    };
    const obs = await loadObservability({
      configFile: config(liveFile),
      env: {},
      // Where this package's own @rlm/sink-jsonl is found (as the CLI does).
      fallbackDirs: [fileURLToPath(new URL('../src/', import.meta.url))],
    });
    const run = privateRun(obs);
    await obs.shutdown();
    const liveText = fs.readFileSync(liveFile, 'utf8');
    expect(liveText).not.toMatch(PRIVATE);
    expect(liveText).toContain('[content omitted');

    const io = quietIo();
    const code = await main(
      ['replay', run.id, '--to', 'remote', '--config', config(replayFile)],
      io,
    );
    expect(io.text.join('\n')).toContain('replayed 1 run(s)');
    expect(code).toBe(0);
    const replayText = fs.readFileSync(replayFile, 'utf8');
    expect(replayText).not.toMatch(PRIVATE);
    const hooks = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { hook: string; payload: unknown });
    expect(untimed(hooks(replayText))).toEqual(untimed(hooks(liveText)));
  });
});
