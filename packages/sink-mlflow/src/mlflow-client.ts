/**
 * A small typed client for the MLflow tracking server's REST API (`/api/2.0/mlflow`). No
 * maintained TypeScript tracking client exists: the npm `mlflow` 2.0.7 calls removed
 * endpoints and logs request bodies, and `mlflow-tracing` covers traces only.
 *
 * - `log-batch` is split within MLflow's limits (1000 metrics, 100 params, 100 tags, 1000
 *   items, 1 MB); keys and values are made valid (long values cut, never rejected), and names
 *   that clean to the same key get distinct keys (see {@link KeyNames}).
 * - 429, 503 (and other 5xx) and network errors are retried with backoff, honouring
 *   Retry-After; other errors surface as {@link MlflowError} with MLflow's `error_code`.
 * - Basic auth from username/password, else a bearer token.
 */

import { KeyNames, validKey } from './keys.js';

export { KeyNames, validKey } from './keys.js';

/** An MLflow API error. */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }

  /** The server was busy or failing (429, 5xx): the same request may work later. */
  get retryable(): boolean {
    return retryableStatus(this.status);
  }
}

function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Options of {@link MlflowClient}. */
export interface MlflowClientOptions {
  trackingUri: string;
  username?: string;
  password?: string;
  token?: string;
  /** Per request. @defaultValue `10000` */
  timeoutMs?: number;
  /** Retries on 429/5xx/network errors. @defaultValue `3` */
  maxRetries?: number;
  /** First backoff; doubles per retry (capped at 5 s). @defaultValue `200` */
  backoffMs?: number;
  /** For tests. */
  fetch?: typeof fetch;
  /**
   * Ends every request in flight and every retry once aborted: a request after that fails at
   * once (the sink aborts it at shutdown, so a server that never answers keeps no process alive).
   */
  signal?: AbortSignal;
}

export interface MlflowMetric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface MlflowRunInfo {
  run_id: string;
  experiment_id: string;
  run_name?: string;
  status: string;
  artifact_uri: string;
  start_time?: number;
  end_time?: number;
}

export interface MlflowExperiment {
  experiment_id: string;
  name: string;
  /** `active`, or `deleted` (in MLflow's trash). */
  lifecycle_stage?: string;
}

/** The experiment was deleted in MLflow: no run can be created in it until it is restored. */
export class ExperimentDeletedError extends Error {
  override readonly name = 'ExperimentDeletedError';
  constructor(
    readonly experiment: string,
    readonly experimentId: string,
  ) {
    super(
      `experiment '${experiment}' is deleted in MLflow: restore it or choose another experiment`,
    );
  }
}

function activeExperimentId(experiment: MlflowExperiment): string {
  if (experiment.lifecycle_stage === 'deleted')
    throw new ExperimentDeletedError(experiment.name, experiment.experiment_id);
  return experiment.experiment_id;
}

export interface MlflowRun {
  info: MlflowRunInfo;
  data: {
    metrics?: Array<{ key: string; value: number; step?: number }>;
    params?: Array<{ key: string; value: string }>;
    tags?: Array<{ key: string; value: string }>;
  };
}

export const LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  itemsPerBatch: 1000,
  bytesPerBatch: 1_000_000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 5000,
} as const;

function jsonLength(item: unknown): number {
  return JSON.stringify(item).length;
}

/**
 * `JSON.stringify(metric).length` without the JSON: a valid key needs no escapes and a finite
 * number's JSON is its `String()`. (Once per metric, it was the sink's biggest cost.)
 */
export function metricJsonLength(m: {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}): number {
  // {"key":"…","value":…,"timestamp":…,"step":…}
  return (
    40 +
    m.key.length +
    numberJsonLength(m.value) +
    numberJsonLength(m.timestamp) +
    numberJsonLength(m.step)
  );
}

function numberJsonLength(n: number): number {
  return Number.isFinite(n) ? String(n).length : 4; // null
}

function cut(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 16)}…[truncated]`;
}

/**
 * A retry's backoff. Unref'ed: a process whose work is done does not wait for MLflow to come
 * back (seconds, with every request retrying); the exit flush, which holds the process until
 * its deadline, still gives the retries their time.
 */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms).unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The request's timeout, ended early by the client's own signal. */
function requestSignal(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** The error a request of an aborted client fails with. */
function abortedError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('the MLflow client was aborted');
}

export class MlflowClient {
  readonly trackingUri: string;
  readonly #auth: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #backoffMs: number;
  readonly #fetch: typeof fetch;
  readonly #signal: AbortSignal | undefined;

  constructor(options: MlflowClientOptions) {
    // `https://user:pass@host` (as Python's client accepts it): fetch refuses a URL with
    // credentials, so they become Basic auth and leave the URL requests go to.
    const { url, username, password } = splitCredentials(options.trackingUri.replace(/\/+$/, ''));
    this.trackingUri = url;
    const user = options.username ?? username;
    const pass = options.password ?? password;
    if (user !== undefined && pass !== undefined) {
      this.#auth = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    } else if (options.token) {
      this.#auth = `Bearer ${options.token}`;
    }
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.#backoffMs = options.backoffMs ?? 200;
    this.#fetch = options.fetch ?? fetch;
    this.#signal = options.signal;
  }

  /** One REST call with retries; returns the parsed JSON body. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.trackingUri}/api/2.0/mlflow/${path}`;
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.#maxRetries; attempt++) {
      if (this.#signal?.aborted) throw abortedError(this.#signal);
      let retryAfter: number | undefined;
      try {
        const headers: Record<string, string> = {};
        if (body !== undefined) headers['content-type'] = 'application/json';
        if (this.#auth) headers.authorization = this.#auth;
        const response = await this.#fetch(url, {
          method,
          headers,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: requestSignal(this.#timeoutMs, this.#signal),
        });
        const text = await response.text();
        if (response.ok) return (text ? JSON.parse(text) : {}) as T;
        let code: string | undefined;
        let message = `HTTP ${response.status}`;
        try {
          const parsed = JSON.parse(text) as { error_code?: string; message?: string };
          code = parsed.error_code;
          if (parsed.message)
            message = `${parsed.error_code ?? response.status}: ${parsed.message}`;
        } catch {
          // not JSON
        }
        const error = new MlflowError(message, response.status, code);
        if (!error.retryable) throw error;
        lastError = error;
        const header = response.headers.get('retry-after');
        if (header && Number.isFinite(Number(header)))
          retryAfter = Math.min(5000, Number(header) * 1000);
      } catch (error) {
        if (error instanceof MlflowError && !error.retryable) throw error;
        lastError = error;
      }
      if (this.#signal?.aborted) throw abortedError(this.#signal);
      if (attempt < this.#maxRetries)
        await sleep(retryAfter ?? Math.min(5000, this.#backoffMs * 2 ** attempt), this.#signal);
    }
    if (lastError instanceof Error) throw lastError;
    throw new Error(String(lastError));
  }

  async getExperimentByName(name: string): Promise<MlflowExperiment | undefined> {
    try {
      const { experiment } = await this.request<{
        experiment: MlflowExperiment;
      }>('GET', `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
      return experiment;
    } catch (error) {
      if (error instanceof MlflowError && error.code === 'RESOURCE_DOES_NOT_EXIST')
        return undefined;
      throw error;
    }
  }

  /**
   * The experiment's id, creating it if missing — safe when two processes race. An experiment
   * deleted in MLflow (kept in its trash, where no run can be created and the name cannot be
   * taken again) is an {@link ExperimentDeletedError}.
   */
  async ensureExperiment(name: string): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return activeExperimentId(existing);
    try {
      const { experiment_id } = await this.request<{ experiment_id: string }>(
        'POST',
        'experiments/create',
        { name },
      );
      return experiment_id;
    } catch (error) {
      if (error instanceof MlflowError && error.code === 'RESOURCE_ALREADY_EXISTS') {
        const raced = await this.getExperimentByName(name);
        if (raced) return activeExperimentId(raced);
      }
      throw error;
    }
  }

  /**
   * Creates a run. Tag names that clean to the same key get distinct keys (MLflow refuses the
   * whole run for a duplicate); `tagKeys` keeps them for the run's later tags.
   */
  async createRun(params: {
    experimentId: string;
    runName: string;
    startTime: number;
    tags: Record<string, string>;
    tagKeys?: KeyNames;
  }): Promise<MlflowRun> {
    const entries = Object.entries(params.tags);
    const keys = (params.tagKeys ?? new KeyNames()).resolve(entries.map(([key]) => key));
    const { run } = await this.request<{ run: MlflowRun }>('POST', 'runs/create', {
      experiment_id: params.experimentId,
      run_name: params.runName,
      start_time: Math.floor(params.startTime),
      tags: entries.map(([key, value]) => ({
        key: keys.get(key)!,
        value: cut(value, LIMITS.tagValueLength),
      })),
    });
    return run;
  }

  /** Runs of an experiment whose tag `key` equals `value`. */
  async findRunsByTag(experimentId: string, key: string, value: string): Promise<MlflowRun[]> {
    const { runs } = await this.request<{ runs?: MlflowRun[] }>('POST', 'runs/search', {
      experiment_ids: [experimentId],
      filter: `tags.\`${validKey(key)}\` = '${value.replace(/'/g, "\\'")}'`,
      max_results: 10,
    });
    return runs ?? [];
  }

  async getRun(runId: string): Promise<MlflowRun> {
    const { run } = await this.request<{ run: MlflowRun }>(
      'GET',
      `runs/get?run_id=${encodeURIComponent(runId)}`,
    );
    return run;
  }

  /** Every point of a metric, page by page. */
  async getMetricHistory(
    runId: string,
    key: string,
  ): Promise<Array<{ key: string; value: number; step: number; timestamp: number }>> {
    const points: Array<{ key: string; value: number; step: number; timestamp: number }> = [];
    let token: string | undefined;
    do {
      const { metrics, next_page_token } = await this.request<{
        metrics?: Array<{ key: string; value: number; step: number; timestamp: number }>;
        next_page_token?: string;
      }>(
        'GET',
        `metrics/get-history?run_id=${encodeURIComponent(runId)}&metric_key=${encodeURIComponent(key)}&max_results=10000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
      );
      points.push(...(metrics ?? []));
      token = next_page_token || undefined;
    } while (token);
    return points;
  }

  async listArtifacts(
    runId: string,
    path = '',
  ): Promise<Array<{ path: string; is_dir: boolean; file_size?: number }>> {
    const { files } = await this.request<{
      files?: Array<{ path: string; is_dir: boolean; file_size?: number }>;
    }>(
      'GET',
      `artifacts/list?run_id=${encodeURIComponent(runId)}${path ? `&path=${encodeURIComponent(path)}` : ''}`,
    );
    return files ?? [];
  }

  /**
   * Logs metrics, params and tags, split into as many `log-batch` calls as MLflow's limits
   * need. Keys are made valid; long values are cut; non-finite metrics are skipped. Names that
   * clean to the same key get distinct keys (`model(name)` → `model_name_`, `model[name]` →
   * `model_name__2`): MLflow refuses every param of a request with a duplicate. `keys` keeps a
   * run's tag and metric names across calls.
   */
  async logBatch(
    runId: string,
    data: {
      metrics?: MlflowMetric[];
      params?: Record<string, string>;
      tags?: Record<string, string>;
    },
    keys: { metrics?: KeyNames; tags?: KeyNames } = {},
  ): Promise<void> {
    const finite = (data.metrics ?? []).filter((m) => Number.isFinite(m.value));
    const metricKeys = (keys.metrics ?? new KeyNames()).resolve(finite.map((m) => m.key));
    const metrics = finite.map((m) => ({
      key: metricKeys.get(m.key)!,
      value: m.value,
      timestamp: Math.floor(m.timestamp),
      step: Math.floor(m.step),
    }));
    const paramEntries = Object.entries(data.params ?? {});
    const paramKeys = new KeyNames(Number.POSITIVE_INFINITY).resolve(
      paramEntries.map(([key]) => key),
    );
    const params = paramEntries.map(([key, value]) => ({
      key: paramKeys.get(key)!,
      value: cut(String(value), LIMITS.paramValueLength),
    }));
    const tagEntries = Object.entries(data.tags ?? {});
    const tagKeys = (keys.tags ?? new KeyNames()).resolve(tagEntries.map(([key]) => key));
    const tags = tagEntries.map(([key, value]) => ({
      key: tagKeys.get(key)!,
      value: cut(String(value), LIMITS.tagValueLength),
    }));
    // Read positions, not `shift()`: shifting a 10,000-metric array per item is quadratic.
    const next = { params: 0, tags: 0, metrics: 0 };
    const left = () =>
      next.metrics < metrics.length || next.params < params.length || next.tags < tags.length;
    while (left()) {
      const batch = {
        metrics: [] as typeof metrics,
        params: [] as typeof params,
        tags: [] as typeof tags,
      };
      let bytes = 100;
      let items = 0;
      const take = <T>(
        kind: keyof typeof next,
        source: T[],
        target: T[],
        max: number,
        sizeOf: (item: T) => number,
      ) => {
        while (next[kind] < source.length && target.length < max && items < LIMITS.itemsPerBatch) {
          const item = source[next[kind]]!;
          const size = sizeOf(item) + 1;
          if (bytes + size > LIMITS.bytesPerBatch && items > 0) break;
          target.push(item);
          next[kind]++;
          bytes += size;
          items++;
        }
      };
      take('params', params, batch.params, LIMITS.paramsPerBatch, jsonLength);
      take('tags', tags, batch.tags, LIMITS.tagsPerBatch, jsonLength);
      take('metrics', metrics, batch.metrics, LIMITS.metricsPerBatch, metricJsonLength);
      await this.request('POST', 'runs/log-batch', { run_id: runId, ...batch });
    }
  }

  async updateRun(
    runId: string,
    status: 'FINISHED' | 'FAILED' | 'KILLED',
    endTime: number,
  ): Promise<void> {
    await this.request('POST', 'runs/update', {
      run_id: runId,
      status,
      end_time: Math.floor(endTime),
    });
  }

  /**
   * Uploads one file through the server's artifact proxy:
   * `PUT /api/2.0/mlflow-artifacts/artifacts/<path under mlflow-artifacts:>/<file>`.
   * `maxRetries` overrides the client's for this file (the sink gives the rest of a run's
   * files one try each once the server failed one).
   */
  async uploadArtifact(
    artifactUri: string,
    relativePath: string,
    bytes: Uint8Array,
    maxRetries = this.#maxRetries,
  ): Promise<void> {
    // mlflow-artifacts:/<exp>/<run>/artifacts, or mlflow-artifacts://<host>/<exp>/<run>/artifacts
    const base = artifactUri.startsWith('mlflow-artifacts://')
      ? artifactUri.slice('mlflow-artifacts://'.length).replace(/^[^/]*\/?/, '')
      : artifactUri.replace(/^mlflow-artifacts:\/*/, '');
    const path = [base, ...relativePath.split('/').map(encodeURIComponent)]
      .filter(Boolean)
      .join('/');
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (this.#auth) headers.authorization = this.#auth;
    let lastError: unknown;
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (this.#signal?.aborted) throw abortedError(this.#signal);
      try {
        const response = await this.#fetch(
          `${this.trackingUri}/api/2.0/mlflow-artifacts/artifacts/${path}`,
          {
            method: 'PUT',
            headers,
            body: bytes,
            signal: requestSignal(this.#timeoutMs, this.#signal),
          },
        );
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) return;
        lastError = new MlflowError(
          `artifact upload: HTTP ${response.status}`,
          response.status,
          undefined,
        );
        if (!retryableStatus(response.status)) break;
      } catch (error) {
        lastError = error;
      }
      if (this.#signal?.aborted) throw abortedError(this.#signal);
      if (attempt < maxRetries)
        await sleep(Math.min(5000, this.#backoffMs * 2 ** attempt), this.#signal);
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }
}

/** A URL's `user:password@`, taken out (decoded), and the URL without it. */
function splitCredentials(uri: string): { url: string; username?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return { url: uri };
  }
  if (!parsed.username && !parsed.password) return { url: uri };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString().replace(/\/+$/, ''), username, password };
}
