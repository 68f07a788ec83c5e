/**
 * Helpers of the chaos test (issue 11): an HTTP proxy in front of each backend that fails on
 * demand (stopped: its listening socket closed and every connection cut; answering 503 or 429;
 * hanging: takes requests and never answers), a LangSmith run map that keeps every version of
 * each run, MLflow's metric history read page by page, Phoenix's spans read page by page,
 * payload fingerprints that tell a duplicate with different content from an identical
 * re-send, and the per-call timings of the caller.
 */
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import type { LangSmithRun } from '../../packages/sink-langsmith/test/langsmith-receiver.js';

/** What a backend does: works, is stopped, answers 503 or 429, or hangs. */
export type FaultMode = 'ok' | 'stopped' | '503' | '429' | 'hang';

/** A failing-on-demand HTTP proxy on 127.0.0.1 in front of `target` (an http://host:port URL). */
export interface FaultProxy {
  url: string;
  readonly mode: FaultMode;
  /** Requests taken while listening, per mode they were taken in. */
  readonly requests: Record<Exclude<FaultMode, 'stopped'>, number>;
  /**
   * `stopped` closes the listening socket and cuts every open connection (clients then get
   * ECONNREFUSED); leaving it listens again on the same port. A request that hung stays
   * unanswered when the hang ends (until the client gives up or the backend is stopped).
   */
  setMode(mode: FaultMode): Promise<void>;
  close(): Promise<void>;
}

/** Headers that belong to one hop, not to the request. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
]);

function endToEnd(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

/**
 * `tap` sees each request the backend answered (path, request body, status): what it got.
 */
export async function startFaultProxy(
  target: string,
  tap?: (path: string, body: Buffer, status: number) => void,
): Promise<FaultProxy> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let mode: FaultMode = 'ok';
  const requests = { ok: 0, '503': 0, '429': 0, hang: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const now = mode === 'stopped' ? 'ok' : mode;
      requests[now]++;
      if (now === 'hang') return;
      if (now === '503' || now === '429') {
        res.writeHead(Number(now), { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: now === '503' ? 'unavailable' : 'too many requests' }));
        return;
      }
      const body = Buffer.concat(chunks);
      const upstream = request(
        {
          host: to.hostname,
          port: Number(to.port),
          method: req.method,
          path: req.url,
          headers: { ...endToEnd(req.headers), host: to.host, 'content-length': body.length },
        },
        (answer) => {
          const back: Buffer[] = [];
          answer.on('data', (c: Buffer) => back.push(c));
          answer.on('error', () => res.destroy());
          answer.on('end', () => {
            const payload = Buffer.concat(back);
            tap?.((req.url ?? '').split('?')[0]!, body, answer.statusCode ?? 0);
            if (res.destroyed) return;
            res.writeHead(answer.statusCode ?? 502, {
              ...endToEnd(answer.headers),
              'content-length': payload.length,
            });
            res.end(payload);
          });
        },
      );
      upstream.on('error', () => {
        if (res.destroyed || res.headersSent) return res.destroy();
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  };
  const listen = async (): Promise<void> => {
    const s = createServer({ keepAliveTimeout: 5_000 }, handle);
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
    port = (s.address() as { port: number }).port;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
  };
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    requests,
    async setMode(next) {
      if (next === mode) return;
      const was = mode;
      mode = next;
      if (next === 'stopped') await stop();
      else if (was === 'stopped') await listen();
    },
    async close() {
      mode = 'stopped';
      await stop();
    },
  };
}

/**
 * A `Map` for the LangSmith receiver's `runs` that also keeps, per run id, every value it was
 * set to (the receiver merges creates and updates into one record per id, as LangSmith does).
 */
export class RunHistory extends Map<string, LangSmithRun> {
  readonly versions = new Map<string, LangSmithRun[]>();
  override set(id: string, run: LangSmithRun): this {
    // Map's constructor calls set() before the field initializer ran.
    if (this.versions) {
      const list = this.versions.get(id);
      if (list) list.push(run);
      else this.versions.set(id, [run]);
    }
    return super.set(id, run);
  }
}

/** A metric point of MLflow's history. */
export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

/** Every point of a metric of an MLflow run, read page by page (no cap at 10,000). */
export async function mlflowMetricHistory(
  trackingUri: string,
  runId: string,
  key: string,
): Promise<MetricPoint[]> {
  const points: MetricPoint[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const query = new URLSearchParams({ run_id: runId, metric_key: key, max_results: '5000' });
    if (token) query.set('page_token', token);
    const response = await fetch(`${trackingUri}/api/2.0/mlflow/metrics/get-history?${query}`);
    if (!response.ok)
      throw new Error(`get-history ${key}: HTTP ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { metrics?: MetricPoint[]; next_page_token?: string };
    points.push(...(body.metrics ?? []));
    token = body.next_page_token;
    if (!token) return points;
  }
  throw new Error('get-history: too many pages');
}

/** JSON with sorted keys, for comparing payloads. */
export function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

/**
 * Checks that every id maps to one payload: returns the ids seen with two different
 * fingerprints (an identical re-send of the same id is not a duplicate for a backend that
 * de-duplicates by id).
 */
export function conflictingIds<T>(
  items: Iterable<T>,
  id: (item: T) => string,
  fingerprint: (item: T) => string,
): string[] {
  const seen = new Map<string, string>();
  const conflicts = new Set<string>();
  for (const item of items) {
    const key = id(item);
    const print = fingerprint(item);
    const before = seen.get(key);
    if (before === undefined) seen.set(key, print);
    else if (before !== print) conflicts.add(key);
  }
  return [...conflicts];
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A span as Phoenix's REST API gives it. */
export interface PhoenixSpanRow {
  name: string;
  context: { trace_id: string; span_id: string };
  parent_id: string | null;
  attributes: Record<string, unknown>;
}

/** Every span of a trace in a Phoenix project with that name, read page by page. */
export async function phoenixSpans(
  httpUrl: string,
  project: string,
  traceId: string,
  name: string,
): Promise<PhoenixSpanRow[]> {
  const spans: PhoenixSpanRow[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const query = new URLSearchParams({ limit: '1000', trace_id: traceId, name });
    if (cursor) query.set('cursor', cursor);
    const response = await fetch(
      `${httpUrl}/v1/projects/${encodeURIComponent(project)}/spans?${query}`,
    );
    if (response.status === 404) return spans; // no such project (yet)
    if (!response.ok)
      throw new Error(`phoenix spans: HTTP ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { data: PhoenixSpanRow[]; next_cursor?: string | null };
    spans.push(...body.data);
    cursor = body.next_cursor ?? undefined;
    if (!cursor) return spans;
  }
  throw new Error('phoenix spans: too many pages');
}

/** How many ids were received how many times: `{ distinct, received, copies: {1: n, 2: m} }`. */
export function copyCounts<T>(
  items: Iterable<T>,
  id: (item: T) => string,
): { distinct: number; received: number; copies: Record<number, number> } {
  const perId = new Map<string, number>();
  let received = 0;
  for (const item of items) {
    received++;
    const key = id(item);
    perId.set(key, (perId.get(key) ?? 0) + 1);
  }
  const copies: Record<number, number> = {};
  for (const n of perId.values()) copies[n] = (copies[n] ?? 0) + 1;
  return { distinct: perId.size, received, copies };
}

/** One call of the caller: what was going on (`phase`), how long it took, and without GC. */
export interface CallTiming {
  phase: string;
  ms: number;
  /** `ms` less the garbage collection pauses inside the call (the process's, not a sink's). */
  netMs: number;
}

/**
 * Times the caller's calls (`performance.now()` around each) and records the garbage
 * collector's pauses (`gc` performance entries), so that a GC pause that happens to fall inside
 * a call (the test process holds every received span) is not taken for a sink that blocks.
 */
export class CallClock {
  readonly #calls: Array<{ phase: string; start: number; end: number }> = [];
  readonly #gc: Array<[number, number]> = [];
  readonly #observer: PerformanceObserver;

  constructor() {
    this.#observer = new PerformanceObserver((list) => this.#keep(list.getEntries()));
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  #keep(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) this.#gc.push([e.startTime, e.startTime + e.duration]);
  }

  time<T>(phase: string, fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      this.#calls.push({ phase, start, end: performance.now() });
    }
  }

  /** Stops recording; every call with its GC-free duration. */
  async stop(): Promise<CallTiming[]> {
    await sleep(100); // the observer's last entries
    this.#keep(this.#observer.takeRecords());
    this.#observer.disconnect();
    const gc = [...this.#gc].sort((a, b) => a[0] - b[0]);
    let first = 0; // the calls are in time order: pauses that ended before one never count again
    return this.#calls.map(({ phase, start, end }) => {
      while (first < gc.length && gc[first]![1] <= start) first++;
      let paused = 0;
      for (let k = first; k < gc.length && gc[k]![0] < end; k++)
        paused += Math.max(0, Math.min(gc[k]![1], end) - Math.max(gc[k]![0], start));
      return { phase, ms: end - start, netMs: Math.max(0, end - start - paused) };
    });
  }
}

/** The `p` quantile (0..1) of `values` (nearest rank). */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
