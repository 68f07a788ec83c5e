/**
 * The viewer's browser script (bundled by the CLI's build into dist/view/app.js): a run list
 * with search and filters and usage charts, and a run page with a waterfall of steps and
 * nested runs, a reward chart and a step panel. Text is only ever set as text (never parsed
 * as HTML); the data comes from this server's /api; a server-sent event stream triggers a
 * refetch when the files change.
 */
import type { RunRow, RunTree, ScoreRow, StepRow, UsageSeries } from '../data.js';

type Child = Node | string | number | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | ((e: Event) => void)> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(key, '');
    else if (value !== false) el.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
  return el;
}

/** Replaces an element's children, skipping the absent ones (replaceChildren would print "null"). */
function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren(
    ...children
      .filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false)
      .map((c) => (typeof c === 'number' ? String(c) : c)),
  );
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs: Record<string, string | number> = {}, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const app = document.getElementById('app')!;
const live = document.getElementById('live')!;
const PALETTE = [
  '#3b6fd8',
  '#d97a1e',
  '#2f9e6b',
  '#b9459b',
  '#6d5bd0',
  '#c0392b',
  '#16a0a8',
  '#8a8a2e',
];

// ---- formatting -------------------------------------------------------------------------

function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m ${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}
function fmtTime(iso: string | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fmtNum(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(digits);
}
function fmtCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd) || usd === 0) return '–';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}
function status(run: RunRow): HTMLElement {
  if (run.state === 'open') return h('span', { class: 'badge open' }, 'open');
  return run.completed
    ? h('span', { class: 'badge ok' }, 'completed')
    : h('span', { class: 'badge bad' }, 'failed');
}

// ---- data -------------------------------------------------------------------------------

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { cache: 'no-store' });
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

// ---- routing ----------------------------------------------------------------------------

interface ListState {
  q: string;
  environment: string;
  state: string;
  topLevel: boolean;
}
const listState: ListState = { q: '', environment: '', state: '', topLevel: false };
let selectedStep: string | undefined;
let rendering: Promise<void> = Promise.resolve();

function navigate(url: string): void {
  history.pushState(null, '', url);
  selectedStep = undefined;
  refresh();
}
document.addEventListener('click', (event) => {
  const a = (event.target as Element).closest('a[data-nav]') as HTMLAnchorElement | null;
  if (!a || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(a.getAttribute('href')!);
});
window.addEventListener('popstate', () => refresh());

let queued = false;
/** Renders the current route; calls while a render waits to start share that render. */
function refresh(): void {
  if (queued) return;
  queued = true;
  rendering = rendering.then(() => {
    queued = false;
    return render();
  });
}

async function render(): Promise<void> {
  const match = /^\/run\/(.+)$/.exec(location.pathname);
  try {
    if (match) await renderRun(decodeURIComponent(match[1]!));
    else await renderList();
  } catch (error) {
    fill(
      app,
      h(
        'p',
        { class: 'muted', 'data-testid': 'error' },
        `Could not load: ${(error as Error).message}`,
      ),
      h('p', {}, h('a', { href: '/', 'data-nav': true }, '← all runs')),
    );
  }
}

// ---- the run list -----------------------------------------------------------------------

function matches(run: RunRow): boolean {
  const q = listState.q.trim().toLowerCase();
  if (q) {
    const hay = [
      run.runId,
      run.task,
      run.finalAnswer,
      run.model,
      run.sessionId,
      run.userId,
      ...(run.tags ?? []),
    ]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    if (!q.split(/\s+/).every((word) => hay.includes(word))) return false;
  }
  if (listState.environment && run.environment !== listState.environment) return false;
  if (listState.state === 'completed' && !(run.state === 'ended' && run.completed)) return false;
  if (listState.state === 'failed' && !(run.state === 'ended' && run.completed === false))
    return false;
  if (listState.state === 'open' && run.state !== 'open') return false;
  if (listState.topLevel && run.parentRunId) return false;
  return true;
}

let lastRuns: RunRow[] = [];

/** Rows the page can show: a run without an id (never sent by this server) is left out. */
const withIds = <T extends { runId: string }>(rows: T[] | null | undefined): T[] =>
  (rows ?? []).filter((r) => typeof r?.runId === 'string');

/** The first characters of an id, for the tables (the whole id is in the link and title). */
const shortId = (id: string | null | undefined): string => String(id ?? '').slice(0, 18);

async function renderList(): Promise<void> {
  const [list, usage] = await Promise.all([
    getJson<{ runs: RunRow[]; dir: string }>('/api/runs'),
    getJson<UsageSeries>('/api/usage'),
  ]);
  const { dir } = list;
  const runs = withIds(list.runs);
  lastRuns = runs;
  document.getElementById('dir')!.textContent = dir;
  document.title = `rlm-obs · ${runs.length} runs`;
  const environments = [
    ...new Set(runs.map((r) => r.environment).filter(Boolean)),
  ].sort() as string[];

  // Keep the focus and caret in the search box across live refreshes.
  const previous = document.activeElement as HTMLInputElement | null;
  const hadFocus = previous?.id === 'search';
  const caret = hadFocus ? previous!.selectionStart : null;

  const search = h('input', {
    type: 'search',
    id: 'search',
    placeholder: 'Search run id, task, answer, model, session, user, tag…',
    value: listState.q,
    'data-testid': 'search',
    oninput: (e: Event) => {
      listState.q = (e.target as HTMLInputElement).value;
      drawTable();
    },
  });
  const envSelect = h(
    'select',
    {
      'data-testid': 'filter-environment',
      onchange: (e: Event) => {
        listState.environment = (e.target as HTMLSelectElement).value;
        drawTable();
      },
    },
    h('option', { value: '' }, 'all environments'),
    ...environments.map((env) =>
      h('option', { value: env, selected: env === listState.environment }, env),
    ),
  );
  const stateSelect = h(
    'select',
    {
      'data-testid': 'filter-state',
      onchange: (e: Event) => {
        listState.state = (e.target as HTMLSelectElement).value;
        drawTable();
      },
    },
    ...[
      ['', 'any status'],
      ['completed', 'completed'],
      ['failed', 'failed'],
      ['open', 'open'],
    ].map(([value, label]) =>
      h('option', { value: value!, selected: value === listState.state }, label!),
    ),
  );
  const topLevel = h('input', {
    type: 'checkbox',
    checked: listState.topLevel,
    'data-testid': 'filter-top-level',
    onchange: (e: Event) => {
      listState.topLevel = (e.target as HTMLInputElement).checked;
      drawTable();
    },
  });
  const count = h('span', { class: 'muted', 'data-testid': 'run-count' });
  const tableHost = h('div');

  function drawTable(): void {
    const shown = lastRuns.filter(matches);
    count.textContent = `${shown.length} of ${lastRuns.length} runs`;
    if (lastRuns.length === 0) {
      fill(
        tableHost,
        h('p', { class: 'muted' }, 'No runs recorded here yet. Record some with: rlm-obs demo'),
      );
      return;
    }
    const head = [
      'run',
      'task',
      'environment',
      'started',
      'duration',
      'steps',
      'failed',
      'reward',
      'tokens',
      'cost',
      'status',
    ];
    fill(
      tableHost,
      h(
        'table',
        { class: 'runs', 'data-testid': 'runs-table' },
        h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))),
        h(
          'tbody',
          {},
          ...shown.map((run) =>
            h(
              'tr',
              { 'data-run-id': run.runId, 'data-testid': 'run-row' },
              h(
                'td',
                {},
                run.parentRunId ? h('span', { class: 'nested', title: 'nested run' }, '↳') : null,
                h(
                  'a',
                  { href: `/run/${encodeURIComponent(run.runId)}`, 'data-nav': true, class: 'id' },
                  shortId(run.runId),
                ),
              ),
              h('td', { class: 'task' }, run.task ?? ''),
              h('td', {}, run.environment ?? ''),
              h('td', {}, fmtTime(run.startedAt)),
              h('td', { class: 'num' }, fmtDuration(run.durationMs)),
              h('td', { class: 'num' }, run.stepCount),
              h('td', { class: 'num' }, run.failedSteps || ''),
              h('td', { class: 'num' }, fmtNum(run.totalReward)),
              h('td', { class: 'num' }, run.inputTokens + run.outputTokens || '–'),
              h('td', { class: 'num' }, fmtCost(run.costUsd)),
              h('td', {}, status(run)),
            ),
          ),
        ),
      ),
    );
  }
  drawTable();

  fill(
    app,
    h(
      'div',
      { class: 'filters' },
      search,
      envSelect,
      stateSelect,
      h('label', { class: 'muted' }, topLevel, ' top-level only'),
      count,
    ),
    tableHost,
    h(
      'div',
      { class: 'cards' },
      usageChart(usage, 'tokens', `Tokens by model (per ${usage.bucket})`),
      usageChart(usage, 'cost', `Cost by model, USD (per ${usage.bucket})`),
    ),
  );
  if (hadFocus) {
    search.focus();
    if (caret !== null) search.setSelectionRange(caret, caret);
  }
}

/** Stacked bars per time bucket, one colour per model. */
function usageChart(usage: UsageSeries, what: 'tokens' | 'cost', title: string): HTMLElement {
  const card = h('div', { class: 'card', 'data-testid': `chart-${what}` }, h('h3', {}, title));
  if (usage.points.length === 0) {
    card.append(h('p', { class: 'muted' }, 'No LLM usage recorded.'));
    return card;
  }
  const models = [...new Set(usage.points.map((p) => p.model))].sort();
  const times = [...new Set(usage.points.map((p) => p.at))].sort();
  const value = (p: UsageSeries['points'][number]) =>
    what === 'tokens' ? p.inputTokens + p.outputTokens : p.costUsd;
  const totals = times.map((t) =>
    usage.points.filter((p) => p.at === t).reduce((sum, p) => sum + value(p), 0),
  );
  const max = Math.max(...totals, 1e-12);
  const W = 600;
  const H = 180;
  const pad = { l: 48, r: 8, t: 8, b: 22 };
  const bw = (W - pad.l - pad.r) / times.length;
  const svg = s('svg', {
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    role: 'img',
  });
  svg.append(s('line', { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, stroke: '#ccc' }));
  svg.append(
    s('text', { x: 4, y: pad.t + 8 }, what === 'cost' ? `$${max.toPrecision(2)}` : fmtNum(max)),
  );
  times.forEach((t, i) => {
    let y = H - pad.b;
    for (const [m, model] of models.entries()) {
      const point = usage.points.find((p) => p.at === t && p.model === model);
      if (!point) continue;
      const height = (value(point) / max) * (H - pad.t - pad.b);
      y -= height;
      const rect = s('rect', {
        x: pad.l + i * bw + 1,
        y,
        width: Math.max(1, bw - 2),
        height: Math.max(0, height),
        fill: PALETTE[m % PALETTE.length]!,
        'data-model': model,
      });
      rect.append(
        s(
          'title',
          {},
          `${fmtTime(t)} · ${model}: ${what === 'cost' ? fmtCost(value(point)) : fmtNum(value(point))}`,
        ),
      );
      svg.append(rect);
    }
    if (i === 0 || i === times.length - 1)
      svg.append(s('text', { x: pad.l + i * bw, y: H - 6 }, fmtTime(t).slice(5, 16)));
  });
  card.append(
    svg,
    h('div', { class: 'legend' }, ...models.map((m, i) => h('span', {}, legendSwatch(i), m))),
  );
  return card;
}

function legendSwatch(i: number): HTMLElement {
  const swatch = h('i');
  swatch.style.background = PALETTE[i % PALETTE.length]!;
  return swatch;
}

// ---- one run ----------------------------------------------------------------------------

interface WaterfallRow {
  kind: 'run' | 'step';
  key: string;
  depth: number;
  label: string;
  start: number;
  end: number;
  failed: boolean;
  run?: RunRow;
  step?: StepRow;
}

const ms = (iso: string | null) => (iso ? Date.parse(iso) : Number.NaN);

/** The tree in time order: each run, then its steps and nested runs by start. */
function waterfallRows(tree: RunTree): WaterfallRow[] {
  const rows: WaterfallRow[] = [];
  const childrenOf = new Map<string, RunRow[]>();
  for (const r of tree.runs)
    if (r.parentRunId) childrenOf.set(r.parentRunId, [...(childrenOf.get(r.parentRunId) ?? []), r]);
  const stepsOf = new Map<string, StepRow[]>();
  for (const st of tree.steps) stepsOf.set(st.runId, [...(stepsOf.get(st.runId) ?? []), st]);
  const visit = (run: RunRow, depth: number) => {
    const steps = stepsOf.get(run.runId) ?? [];
    const start = ms(run.startedAt);
    const lastEnd = Math.max(...steps.map((st) => ms(st.endedAt)).filter(Number.isFinite), start);
    rows.push({
      kind: 'run',
      key: `run:${run.runId}`,
      depth,
      label: `${run.parentRunId ? 'nested run' : 'run'} · ${run.task ?? run.runId}`,
      start,
      end: Number.isFinite(ms(run.finishedAt)) ? ms(run.finishedAt) : lastEnd,
      failed: run.state === 'ended' && run.completed === false,
      run,
    });
    const items: Array<{ at: number; go: () => void }> = [
      ...steps.map((st) => ({
        at: ms(st.startedAt),
        go: () =>
          rows.push({
            kind: 'step',
            key: `step:${st.runId}:${st.step}`,
            depth: depth + 1,
            label: `step ${st.step} · ${st.action ?? ''}`,
            start: ms(st.startedAt),
            end: ms(st.endedAt),
            failed: st.success === false,
            step: st,
          }),
      })),
      ...(childrenOf.get(run.runId) ?? []).map((child) => ({
        at: ms(child.startedAt),
        go: () => visit(child, depth + 1),
      })),
    ];
    items.sort((a, b) => a.at - b.at);
    for (const item of items) item.go();
  };
  visit(tree.run, 0);
  return rows;
}

async function renderRun(runId: string): Promise<void> {
  const tree = await getJson<RunTree & { dir: string }>(`/api/runs/${encodeURIComponent(runId)}`);
  tree.runs = withIds(tree.runs);
  tree.steps = withIds(tree.steps);
  tree.scores = withIds(tree.scores);
  const { run } = tree;
  document.getElementById('dir')!.textContent = tree.dir;
  document.title = `rlm-obs · ${run.task ?? run.runId}`;
  const rows = waterfallRows(tree);
  const t0 = Math.min(...rows.map((r) => r.start).filter(Number.isFinite));
  const t1 = Math.max(...rows.map((r) => r.end).filter(Number.isFinite), t0 + 1);
  const span = t1 - t0;
  const panel = h('aside', { class: 'panel', 'data-testid': 'step-panel' });

  const showStep = (row: WaterfallRow | undefined) => {
    for (const el of document.querySelectorAll('.wf-row.selected')) el.classList.remove('selected');
    if (!row) {
      fill(
        panel,
        h('h2', {}, 'Step details'),
        h(
          'p',
          { class: 'muted' },
          'Click a step in the waterfall to see its code, output, error, reward, tokens and cost.',
        ),
      );
      return;
    }
    selectedStep = row.key;
    document.querySelector(`.wf-row[data-key="${CSS.escape(row.key)}"]`)?.classList.add('selected');
    if (row.kind === 'run') {
      const r = row.run!;
      fill(
        panel,
        h('h2', {}, r.parentRunId ? 'Nested run' : 'Run'),
        kv([
          [
            'run',
            h(
              'a',
              { href: `/run/${encodeURIComponent(r.runId)}`, 'data-nav': true, class: 'id' },
              r.runId,
            ),
          ],
          ['task', r.task ?? ''],
          ['status', status(r)],
          ['steps', r.stepCount],
          ['reward', fmtNum(r.totalReward)],
          ['duration', fmtDuration(r.durationMs)],
          ['tokens', `${fmtNum(r.inputTokens)} in · ${fmtNum(r.outputTokens)} out`],
          ['cost', fmtCost(r.costUsd)],
        ]),
        r.finalAnswer
          ? h('div', {}, h('h3', {}, 'Final answer'), h('pre', {}, r.finalAnswer))
          : null,
      );
      return;
    }
    const st = row.step!;
    fill(
      panel,
      h('h2', { 'data-testid': 'step-title' }, `Step ${st.step} · ${st.action ?? ''}`),
      kv([
        [
          'status',
          st.success === false
            ? h('span', { class: 'badge bad' }, 'failed')
            : h('span', { class: 'badge ok' }, 'ok'),
        ],
        ['reward', fmtNum(st.reward)],
        ['cumulative', fmtNum(st.cumulativeReward)],
        ['duration', fmtDuration(st.durationMs)],
        ['model', st.model ?? '–'],
        [
          'tokens',
          st.inputTokens === null
            ? '–'
            : `${fmtNum(st.inputTokens)} in · ${fmtNum(st.outputTokens)} out`,
        ],
        ['cost', fmtCost(st.costUsd)],
        ['cache', st.cacheStatus ?? '–'],
        ['started', fmtTime(st.startedAt)],
      ]),
      st.rationale ? h('div', {}, h('h3', {}, 'Rationale'), h('pre', {}, st.rationale)) : null,
      h('h3', {}, 'Code'),
      h('pre', { 'data-testid': 'step-code' }, st.code ?? '(none)'),
      h('h3', {}, 'Output'),
      h('pre', { 'data-testid': 'step-output' }, st.output ?? '(none)'),
      st.error
        ? h(
            'div',
            {},
            h('h3', {}, 'Error'),
            h('pre', { class: 'error', 'data-testid': 'step-error' }, st.error),
          )
        : null,
    );
  };

  const waterfall = h(
    'div',
    { class: 'waterfall', 'data-testid': 'waterfall' },
    ...rows.map((row) => {
      const bar = h('div', { class: 'wf-bar' });
      if (Number.isFinite(row.start) && Number.isFinite(row.end)) {
        bar.style.left = `${((row.start - t0) / span) * 100}%`;
        bar.style.width = `${(Math.max(0, row.end - row.start) / span) * 100}%`;
      }
      const label = h('div', { class: 'wf-label', title: row.label }, row.label);
      label.style.paddingLeft = `${row.depth * 16}px`;
      return h(
        'div',
        {
          class: `wf-row ${row.kind}${row.failed ? ' failed' : ''}`,
          'data-key': row.key,
          'data-testid': row.kind === 'run' ? 'wf-run' : 'wf-step',
          onclick: () => showStep(row),
        },
        label,
        h('div', { class: 'wf-track' }, bar),
        h('div', { class: 'wf-dur' }, fmtDuration(row.end - row.start)),
      );
    }),
  );

  const ownSteps = tree.steps.filter((st) => st.runId === run.runId);
  fill(
    app,
    h('p', {}, h('a', { href: '/', 'data-nav': true }, '← all runs')),
    h('h1', { 'data-testid': 'run-title' }, run.task ?? run.runId),
    h(
      'div',
      { class: 'meta' },
      h('span', { class: 'id' }, run.runId),
      status(run),
      h('span', {}, 'environment ', h('b', {}, run.environment ?? '–')),
      run.model ? h('span', {}, 'model ', h('b', {}, run.model)) : null,
      run.sessionId
        ? h('span', { 'data-testid': 'run-session' }, 'session ', h('b', {}, run.sessionId))
        : null,
      run.userId ? h('span', { 'data-testid': 'run-user' }, 'user ', h('b', {}, run.userId)) : null,
      run.tags && run.tags.length > 0
        ? h('span', { 'data-testid': 'run-tags' }, 'tags ', h('b', {}, run.tags.join(', ')))
        : null,
      h('span', {}, 'started ', h('b', {}, fmtTime(run.startedAt))),
      h('span', {}, 'duration ', h('b', {}, fmtDuration(run.durationMs))),
      h('span', {}, 'reward ', h('b', {}, fmtNum(run.totalReward))),
      h('span', {}, 'tokens ', h('b', {}, fmtNum(run.inputTokens + run.outputTokens))),
      h('span', {}, 'cost ', h('b', {}, fmtCost(run.costUsd))),
      run.parentRunId
        ? h(
            'span',
            {},
            'parent ',
            h(
              'a',
              {
                href: `/run/${encodeURIComponent(run.parentRunId)}`,
                'data-nav': true,
                class: 'id',
              },
              shortId(run.parentRunId),
            ),
          )
        : null,
    ),
    h(
      'div',
      { class: 'layout' },
      h(
        'div',
        {},
        waterfall,
        h('div', { class: 'cards' }, rewardChart(ownSteps), scoresCard(tree.scores ?? [])),
      ),
      panel,
    ),
  );
  showStep(rows.find((r) => r.key === selectedStep));
}

/** Reward per step (bars) and the cumulative reward (line) of the run's own steps. */
function rewardChart(steps: StepRow[]): HTMLElement {
  const card = h(
    'div',
    { class: 'card', 'data-testid': 'chart-reward' },
    h('h3', {}, 'Reward per step'),
  );
  const points = steps.filter((st) => st.step !== null).sort((a, b) => a.step! - b.step!);
  if (points.length === 0) {
    card.append(h('p', { class: 'muted' }, 'No steps.'));
    return card;
  }
  const W = 600;
  const H = 180;
  const pad = { l: 36, r: 8, t: 10, b: 20 };
  const values = points.flatMap((p) => [p.reward ?? 0, p.cumulativeReward ?? 0, 0]);
  const lo = Math.min(...values);
  const hi = Math.max(...values, lo + 1e-9);
  const y = (v: number) => pad.t + ((hi - v) / (hi - lo)) * (H - pad.t - pad.b);
  const bw = (W - pad.l - pad.r) / points.length;
  const svg = s('svg', {
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    role: 'img',
  });
  svg.append(s('line', { x1: pad.l, x2: W - pad.r, y1: y(0), y2: y(0), stroke: '#ccc' }));
  svg.append(
    s('text', { x: 2, y: pad.t + 6 }, fmtNum(hi)),
    s('text', { x: 2, y: H - pad.b }, fmtNum(lo)),
  );
  points.forEach((p, i) => {
    const r = p.reward ?? 0;
    const rect = s('rect', {
      x: pad.l + i * bw + 2,
      y: Math.min(y(r), y(0)),
      width: Math.max(1, bw - 4),
      height: Math.abs(y(r) - y(0)),
      fill: p.success === false ? '#d64545' : '#2f9e6b',
      'data-step': String(p.step),
    });
    rect.append(s('title', {}, `step ${p.step}: reward ${fmtNum(p.reward)}`));
    svg.append(rect);
    svg.append(s('text', { x: pad.l + i * bw + bw / 2 - 3, y: H - 6 }, String(p.step)));
  });
  const line = points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${pad.l + i * bw + bw / 2},${y(p.cumulativeReward ?? 0)}`)
    .join(' ');
  svg.append(s('path', { d: line, fill: 'none', stroke: '#6d5bd0', 'stroke-width': 2 }));
  const legend = h(
    'div',
    { class: 'legend' },
    h('span', {}, legendSwatch(2), 'step reward'),
    h('span', {}, legendSwatch(4), 'cumulative'),
  );
  card.append(svg, legend);
  return card;
}

/** The run's scores and feedback: name, value, kind, source, step and comment. */
function scoresCard(scores: ScoreRow[]): HTMLElement {
  const card = h(
    'div',
    { class: 'card', 'data-testid': 'scores' },
    h('h3', {}, 'Scores & feedback'),
  );
  if (scores.length === 0) {
    card.append(h('p', { class: 'muted' }, 'No scores.'));
    return card;
  }
  card.append(
    h(
      'table',
      { class: 'runs', 'data-testid': 'scores-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['name', 'value', 'kind', 'source', 'step', 'comment'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        ...scores.map((score) =>
          h(
            'tr',
            { 'data-testid': 'score-row', 'data-score-name': score.name },
            h('td', {}, score.name),
            h('td', { class: 'num' }, score.value ?? '–'),
            h('td', {}, score.kind ?? ''),
            h('td', {}, score.source ?? ''),
            h('td', { class: 'num' }, score.step ?? ''),
            h('td', { class: 'task' }, score.comment ?? ''),
          ),
        ),
      ),
    ),
  );
  return card;
}

function kv(pairs: Array<[string, Child]>): HTMLElement {
  return h('dl', { class: 'kv' }, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// ---- live updates -----------------------------------------------------------------------

function connect(): void {
  const events = new EventSource('/api/events');
  events.addEventListener('hello', () => live.classList.add('on'));
  events.addEventListener('change', () => refresh());
  events.onerror = () => live.classList.remove('on');
  events.onopen = () => live.classList.add('on');
}

connect();
refresh();
