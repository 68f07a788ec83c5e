/**
 * The viewer's server and page against what the plain browser test does not exercise:
 *
 * - the Host header: a request naming another host (DNS rebinding: a site whose name now
 *   resolves to 127.0.0.1) gets a 403 and no data; loopback names, the listened address and
 *   `allowedHosts`, with the listened port, are served;
 * - a directory with a torn start line and a run known only from its steps: `/api/runs` has
 *   no run without an id, and the step-only run opens;
 * - the page leaves out a run without an id instead of failing to draw the list (Chromium,
 *   skipped without it as test/view.test.ts is).
 */
import * as fs from 'node:fs';
import { request } from 'node:http';
import * as path from 'node:path';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startViewServer, type ViewServer } from '../src/view/server.js';
import { tempDir } from './cli-helpers.js';

const CHROMIUM = process.env.RLM_OBS_CHROMIUM ?? '/usr/bin/chromium';
const browserAvailable = fs.existsSync(CHROMIUM);

let tmp: ReturnType<typeof tempDir>;
let dir: string;
let server: ViewServer;

beforeAll(async () => {
  tmp = tempDir();
  dir = path.join(tmp.dir, 'obs');
  const obs = RLMObservability.withSinks([createJsonlSink({ dir })], {
    flushOnExit: false,
    logger: false,
    pricing: false,
  });
  for (const runId of ['run-a', 'run-b']) {
    const run = obs.startRun({ runId, task: `task ${runId}`, environment: 'pure_rlm' });
    run.step({ action: { action: 'a' }, observation: { success: true }, reward: 1 });
    run.end({ completed: true });
  }
  await obs.shutdown();
  // A crash mid-write of a start line, and a Python run that crashed (its steps only).
  fs.appendFileSync(
    path.join(dir, 'starts.jsonl'),
    '{"timestamp":"2026-11-23T05:40:00Z","run_id":"run-z","sta',
  );
  fs.writeFileSync(
    path.join(dir, 'steps', 'py-crashed.jsonl'),
    `${JSON.stringify({
      timestamp: '2025-06-01T12:00:02+00:00',
      run_id: 'py-crashed',
      step: 1,
      action: 'run_python',
      reward: 0.5,
      cumulative_reward: 0.5,
      success: true,
    })}\n`,
  );
  server = await startViewServer({ dir, pollMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  tmp?.remove();
});

/** A GET with the given Host header (fetch would not let a test set it). */
function get(
  port: number,
  route: string,
  host: string | undefined,
  address = '127.0.0.1',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: address, port, path: route, method: 'GET', setHost: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    if (host !== undefined) req.setHeader('host', host);
    req.on('error', reject);
    req.end();
  });
}

describe('the Host header', () => {
  it('another host name gets a 403 and no data; loopback names with the port are served', async () => {
    const { port } = server;
    for (const host of [
      'attacker.example:80',
      `attacker.example:${port}`,
      'attacker.example',
      `127.0.0.1.attacker.example:${port}`,
      `localhost:${port + 1 > 65_535 ? port - 1 : port + 1}`,
      `localhost`,
    ]) {
      for (const route of ['/api/runs', '/api/runs/run-a', '/api/usage', '/', '/assets/app.js']) {
        const res = await get(port, route, host);
        expect(res.status, `${host} ${route}`).toBe(403);
        expect(res.body).not.toContain('run-a');
      }
    }
    // No Host header at all: refused too (node:http itself answers 400 to HTTP/1.1 without one).
    expect([400, 403]).toContain((await get(port, '/api/runs', undefined)).status);
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LocalHost:${port}`,
      `[::1]:${port}`,
    ]) {
      const res = await get(port, '/api/runs', host);
      expect(res.status, host).toBe(200);
      expect(res.body).toContain('run-a');
    }
  });

  it('a viewer bound to another address answers to that address, and to allowedHosts', async () => {
    let other: ViewServer;
    try {
      other = await startViewServer({
        dir,
        host: '127.0.0.2',
        pollMs: 60_000,
        allowedHosts: ['rlm-viewer.internal'],
      });
    } catch (error) {
      // No 127.0.0.2 on this machine's loopback: nothing to check here.
      if ((error as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') return;
      throw error;
    }
    try {
      const { port } = other;
      expect(other.url).toBe(`http://127.0.0.2:${port}/`);
      for (const host of [`127.0.0.2:${port}`, `rlm-viewer.internal:${port}`, `localhost:${port}`])
        expect((await get(port, '/api/runs', host, '127.0.0.2')).status, host).toBe(200);
      for (const host of [`attacker.example:${port}`, `127.0.0.2:${port + 1}`])
        expect((await get(port, '/api/runs', host, '127.0.0.2')).status, host).toBe(403);
    } finally {
      await other.close();
    }
  });
});

describe('runs without a start line', () => {
  it('/api/runs has no run without an id; a run known from its steps alone opens', async () => {
    const host = `127.0.0.1:${server.port}`;
    const list = JSON.parse((await get(server.port, '/api/runs', host)).body) as {
      runs: Array<{ runId: string | null; state: string; stepCount: number }>;
    };
    expect(list.runs.map((r) => r.runId).sort()).toEqual(['py-crashed', 'run-a', 'run-b']);
    expect(list.runs.find((r) => r.runId === 'py-crashed')).toMatchObject({
      state: 'open',
      stepCount: 1,
    });
    const run = await get(server.port, '/api/runs/py-crashed', host);
    expect(run.status).toBe(200);
    const tree = JSON.parse(run.body) as { run: { runId: string }; steps: unknown[] };
    expect(tree.run.runId).toBe('py-crashed');
    expect(tree.steps).toHaveLength(1);
  });
});

describe.runIf(browserAvailable)('the page with a run without an id (Chromium)', () => {
  it('lists the other runs instead of failing', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // As an older server (or a hand-made API) could send it: a run whose id is null.
      await page.route('**/api/runs', async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as { runs: Array<Record<string, unknown>> };
        body.runs.push({ ...body.runs[0], runId: null, parentRunId: null, task: 'blank' });
        await route.fulfill({ response, json: body });
      });
      await page.goto(server.url);
      await expect
        .poll(() => page.locator('[data-testid=run-row]').count(), { timeout: 15_000 })
        .toBe(3);
      expect(await page.locator('[data-testid=error]').count()).toBe(0);
      expect(await page.locator('[data-testid=run-count]').textContent()).toBe('3 of 3 runs');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
