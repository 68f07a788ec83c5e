/**
 * `rlm-obs view` in a real browser: the built binary serves a recording (the demo agent: a
 * failed run and nested runs), and Debian's Chromium, driven by playwright-core, opens the
 * list, filters it, opens a run, sees the waterfall with the nested runs and the failed step,
 * opens that step and saves a screenshot (test-results/). New records must appear without a
 * reload, and the page must never ask anything of another origin.
 *
 * Needs Chromium (`bash scripts/setup-chromium.sh`); skipped without it unless
 * RLM_OBS_REQUIRE_BROWSER=1 (CI sets it, so CI cannot silently skip).
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RLMObservability } from '@rlm/obs-core';
import { createJsonlSink } from '@rlm/sink-jsonl';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemoAgent } from '../src/demo-agent.js';
import { rlmObs, spawnRlmObs, tempDir } from './cli-helpers.js';

const CHROMIUM = process.env.RLM_OBS_CHROMIUM ?? '/usr/bin/chromium';
const required = process.env.RLM_OBS_REQUIRE_BROWSER === '1';
const available = fs.existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../test-results/', import.meta.url));

if (required && !available)
  throw new Error(`RLM_OBS_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);

describe.runIf(available)('rlm-obs view in Chromium', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dir: string;
  let demo: Awaited<ReturnType<typeof runDemoAgent>>;
  let server: ChildProcess;
  let url: string;
  let browser: Browser;
  let page: Page;
  const foreign: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    tmp = tempDir();
    dir = path.join(tmp.dir, 'obs');
    const obs = RLMObservability.withSinks([createJsonlSink({ dir })], { flushOnExit: false });
    demo = await runDemoAgent(obs, { runs: 3, steps: 6, stepDelayMs: 2 });
    await obs.shutdown();

    server = spawnRlmObs(['view', '--dir', dir, '--port', '0', '--json'], tmp.dir);
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`viewer did not start: ${out}`)), 20_000);
      server.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      });
      server.stderr!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      server.on('exit', (code) => reject(new Error(`viewer exited ${code}: ${out}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('request', (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith('data:'))
        foreign.push(request.url());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGINT');
    tmp?.remove();
  });

  const rows = () => page.locator('[data-testid=run-row]');

  it('lists every run, with search and filters', async () => {
    await page.goto(url);
    const total = demo.runIds.length + demo.nestedRunIds.length;
    await expect.poll(() => rows().count()).toBe(total);
    await expect
      .poll(() => page.locator('[data-testid=run-count]').textContent())
      .toBe(`${total} of ${total} runs`);

    await page.locator('[data-testid=filter-top-level]').check();
    await expect.poll(() => rows().count()).toBe(demo.runIds.length);
    await page.locator('[data-testid=filter-top-level]').uncheck();

    await page.locator('[data-testid=filter-state]').selectOption('failed');
    await expect.poll(() => rows().count()).toBe(1);
    expect(await rows().first().getAttribute('data-run-id')).toBe(demo.failedRunId);
    await page.locator('[data-testid=filter-state]').selectOption('');

    await page.locator('[data-testid=search]').fill('palindrome');
    await expect.poll(() => rows().count()).toBe(1);
    await page.locator('[data-testid=search]').fill(demo.nestedRunIds[0]!);
    await expect.poll(() => rows().count()).toBe(1);
    // Session, user and tags are searched too: the dspy run (session 2) and its nested runs.
    await page.locator('[data-testid=search]').fill('demo-session-2');
    await expect.poll(() => rows().count()).toBe(3);
    await page.locator('[data-testid=search]').fill('demo-user dspy');
    await expect.poll(() => rows().count()).toBe(3);
    await page.locator('[data-testid=search]').fill('');

    await page.locator('[data-testid=filter-environment]').selectOption('dspy');
    const dspy = await rows().count();
    expect(dspy).toBeGreaterThan(0);
    expect(dspy).toBeLessThan(total);
    await page.locator('[data-testid=filter-environment]').selectOption('');

    // Usage charts: one bar per model and time bucket.
    expect(
      await page.locator('[data-testid=chart-tokens] rect[data-model]').count(),
    ).toBeGreaterThan(0);
    expect(await page.locator('[data-testid=chart-cost] rect[data-model]').count()).toBeGreaterThan(
      0,
    );
  });

  it('opens a run: the waterfall shows its nested runs in their place, and a reward chart', async () => {
    await page.goto(url);
    await rows()
      .filter({ has: page.locator(`a[href="/run/${demo.runIds[0]}"]`) })
      .locator('a')
      .click();
    await page.waitForSelector('[data-testid=waterfall]');
    expect(new URL(page.url()).pathname).toBe(`/run/${demo.runIds[0]}`);
    // The run, its child and its grandchild.
    const runRows = page.locator('[data-testid=wf-run]');
    expect(await runRows.count()).toBe(3);
    const labels = await page.locator('.wf-row .wf-label').allInnerTexts();
    const nestedAt = labels.findIndex((l) => l.startsWith('nested run'));
    expect(nestedAt).toBeGreaterThan(1);
    // The nested run sits after the step that spawned it and is indented under it.
    expect(labels[nestedAt - 1]).toMatch(/^step 2/);
    const indent = (i: number) =>
      page
        .locator('.wf-row .wf-label')
        .nth(i)
        .evaluate((el) => Number.parseFloat((el as HTMLElement).style.paddingLeft));
    expect(await indent(nestedAt)).toBeGreaterThan(await indent(0));
    expect(await page.locator('[data-testid=chart-reward] rect[data-step]').count()).toBe(6);
    // Session, user, tags, and the run's scores and feedback.
    expect(await page.locator('[data-testid=run-session]').textContent()).toBe(
      'session demo-session-1',
    );
    expect(await page.locator('[data-testid=run-user]').textContent()).toBe('user demo-user');
    expect(await page.locator('[data-testid=run-tags]').textContent()).toBe('tags demo, pure_rlm');
    const scoreRows = page.locator('[data-testid=scores-table] [data-testid=score-row]');
    expect(
      (await scoreRows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-score-name'))))
        .slice()
        .sort(),
    ).toEqual(['answer_quality', 'completed', 'reward', 'thumbs_up']);
    const quality = page.locator('[data-score-name=answer_quality] td');
    expect(await quality.allTextContents()).toEqual([
      'answer_quality',
      '0.9',
      'score',
      'llm-judge',
      '6',
      'closed form derived and checked',
    ]);
    expect(await page.locator('[data-score-name=thumbs_up] td').allTextContents()).toEqual([
      'thumbs_up',
      'true',
      'feedback',
      'demo-user',
      '',
      'helpful',
    ]);
  });

  it('opens the failed run and its failed step: code, output, error, reward, tokens and cost', async () => {
    await page.goto(`${url}run/${demo.failedRunId}`);
    await page.waitForSelector('[data-testid=waterfall]');
    const failed = page.locator('[data-testid=wf-step].failed');
    expect(await failed.count()).toBe(2);
    await failed.first().click();
    const panel = page.locator('[data-testid=step-panel]');
    await expect
      .poll(() => panel.locator('[data-testid=step-error]').textContent())
      .toMatch(/NameError: name 'valeus'/);
    expect(await panel.locator('[data-testid=step-code]').textContent()).toContain(
      'print(sum(values))',
    );
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text keeps the gaps between labels and values
    const text = await panel.innerText();
    expect(text).toMatch(/reward\s+-0\.20/);
    expect(text).toMatch(/tokens\s+[\d,]+ in · [\d,]+ out/);
    expect(text).toMatch(/cost\s+\$0\.\d{4}/);
    expect(text).toMatch(/model\s+(gpt-4\.1-mini|claude-3-5-haiku)/);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'view-failed-step.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
  });

  it('shows new runs and steps without a reload', async () => {
    await page.goto(url);
    await page.waitForSelector('[data-testid=run-row]');
    const before = await rows().count();
    await page.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    const obs = RLMObservability.withSinks([createJsonlSink({ dir })], { flushOnExit: false });
    const run = obs.startRun({
      task: 'arrives while the page is open',
      environment: 'live',
      params: {},
    });
    run.step({
      action: { action: 'run_python', code: 'print(2)' },
      observation: { success: true, output: '2' },
      reward: 1,
    });
    await obs.flush();
    await expect.poll(() => rows().count(), { timeout: 15_000 }).toBe(before + 1);
    await rows().filter({ hasText: 'arrives while the page is open' }).locator('a').click();
    await page.waitForSelector('[data-testid=waterfall]');
    expect(await page.locator('[data-testid=wf-step]').count()).toBe(1);
    run.step({
      action: { action: 'submit', code: 'SUBMIT(2)' },
      observation: { success: true, output: '2' },
      reward: 1,
    });
    run.end({ completed: true, finalAnswer: '2' });
    await obs.shutdown();
    await expect
      .poll(() => page.locator('[data-testid=wf-step]').count(), { timeout: 15_000 })
      .toBe(2);
    // Same document all along: the marker set before survived.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  });

  it('an unknown run says so; the page asked nothing of another origin and threw nothing', async () => {
    await page.goto(`${url}run/no-such-run`);
    await expect
      .poll(() => page.locator('[data-testid=error]').textContent())
      .toContain("no run 'no-such-run'");
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('rlm-obs view (usage)', () => {
  it('rejects a bad port', async () => {
    const tmp = tempDir();
    try {
      const bad = await rlmObs(['view', '--port', 'abc'], { cwd: tmp.dir });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--port');
      const help = await rlmObs(['view', '--help'], { cwd: tmp.dir });
      expect(help.stdout).toContain('Example:');
    } finally {
      tmp.remove();
    }
  });
});
