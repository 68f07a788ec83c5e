/**
 * Helpers of the chaos test (issue 11): a TCP proxy that can be stopped (its listening socket
 * closed, every connection cut) and started again on the same port, a LangSmith run map that
 * keeps every version of each run, MLflow's metric history read page by page, and payload
 * fingerprints that tell a duplicate with different content from an identical re-send.
 */
import { createServer, type Server, Socket } from 'node:net';
import type { LangSmithRun } from '../../packages/sink-langsmith/test/langsmith-receiver.js';

/** A stoppable TCP proxy on 127.0.0.1 in front of `target` (an http://host:port URL). */
export interface ChaosProxy {
  url: string;
  /** Whether it listens now. */
  readonly up: boolean;
  /** Connections accepted while up (while stopped, clients get ECONNREFUSED). */
  connections: number;
  /** Closes the listening socket and cuts every open connection: the backend is gone. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startChaosProxy(target: string): Promise<ChaosProxy> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const proxy = {
    url: '',
    up: false,
    connections: 0,
  } as ChaosProxy & { up: boolean };
  const listen = async (): Promise<void> => {
    const s = createServer((client) => {
      proxy.connections++;
      const upstream = new Socket();
      sockets.add(client);
      sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
      upstream.on('close', drop);
      upstream.connect(Number(to.port), to.hostname, () => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
    port = (s.address() as { port: number }).port;
    proxy.url = `http://127.0.0.1:${port}`;
    proxy.up = true;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    proxy.up = false;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
  };
  proxy.stop = stop;
  proxy.start = listen;
  proxy.close = stop;
  await listen();
  return proxy;
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
