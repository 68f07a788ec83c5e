/**
 * An rlm-obs sink that POSTs run events to a webhook as JSON batches:
 * `{ "events": [{ "type": "run_start" | "step" | "run_end", "run_id", "timestamp", "payload" }] }`.
 *
 * It follows the sink contract's rules: hooks only queue (cheap, never throw), a timer or a
 * full batch sends, 429/5xx/network errors are retried with backoff (honouring Retry-After),
 * memory is bounded, `forceFlush()` finishes the work, and `status()` shows counters but
 * never the URL's credentials or the headers. Credentials in the URL
 * (`https://user:password@host/hook`) are sent as an `Authorization: Basic` header, since
 * fetch refuses a URL that holds them.
 */
import {
  createRedactor,
  type Redactor,
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  SINK_SPECIFICATION_VERSION,
  type SinkCheckResult,
  type SinkStatus,
  type StepRecord,
  safeStringify,
  safeUrl,
} from '@rlm/obs-core';
import type { WebhookSinkOptions } from './options.js';

/** One event as the webhook receives it. */
export interface WebhookEvent {
  type: 'run_start' | 'step' | 'run_end';
  run_id: string;
  /** Epoch milliseconds when the sink received the event. */
  timestamp: number;
  payload: unknown;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const MAX_BACKOFF_MS = 10_000;

/**
 * Whether a failed fetch is worth retrying: network errors (fetch's `TypeError: fetch failed`,
 * which carries the cause) and timeouts are; a request that cannot even be built (a bad
 * header value, a bad URL: a `TypeError` without a cause) or a port fetch refuses (such as
 * 9) fails the same way every time.
 */
function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true;
  if (error instanceof TypeError)
    return (
      error.cause !== undefined && (error.cause as { message?: unknown }).message !== 'bad port'
    );
  return true;
}

/** The URL without `user:password@`, and those credentials as a Basic authorization value. */
function splitCredentials(url: string): { url: string; basic?: string; secrets: string[] } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, secrets: [] };
  }
  if (!parsed.username && !parsed.password) return { url, secrets: [] };
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const username = decode(parsed.username);
  const password = decode(parsed.password);
  parsed.username = '';
  parsed.password = '';
  const basic = Buffer.from(`${username}:${password}`).toString('base64');
  return { url: parsed.toString(), basic: `Basic ${basic}`, secrets: [password, basic] };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry-After in seconds or as an HTTP date, capped. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.min(MAX_BACKOFF_MS, Math.max(0, seconds * 1000));
  const date = Date.parse(header);
  return Number.isFinite(date)
    ? Math.min(MAX_BACKOFF_MS, Math.max(0, date - Date.now()))
    : undefined;
}

/** The webhook sink. Create it with `createSink(options)`. */
export class WebhookSink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  /** Counters, also in `status()`. */
  readonly stats = { sent: 0, failed: 0, dropped: 0, requests: 0, retries: 0 };

  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #maxQueue: number;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  #queue: WebhookEvent[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sending: Promise<void> | undefined;
  #closed = false;
  #lastError: string | undefined;
  /** Scrubs the credentials and header values from error texts shown in `status()`. */
  readonly #redactor: Redactor = createRedactor({ env: {} });

  constructor(options: WebhookSinkOptions) {
    this.name = options.name ?? 'webhook';
    const { url, basic, secrets } = splitCredentials(options.url);
    this.#url = url;
    this.#headers = { ...options.headers };
    // An authorization header given explicitly wins over credentials in the URL.
    const hasAuth = Object.keys(this.#headers).some((h) => h.toLowerCase() === 'authorization');
    if (basic !== undefined && !hasAuth) this.#headers.authorization = basic;
    for (const secret of [...secrets, ...Object.values(this.#headers)])
      this.#redactor.remember(secret);
    this.#maxBatch = Math.max(1, Math.floor(options.maxBatchSize ?? 100));
    this.#delayMs = Math.max(0, options.scheduledDelayMs ?? 1000);
    this.#maxQueue = Math.max(1, options.maxQueueSize ?? 10_000);
    this.#maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 5));
    this.#timeoutMs = Math.max(1, options.exportTimeoutMs ?? 10_000);
  }

  status(): SinkStatus {
    const status: SinkStatus = {
      name: this.name,
      enabled: true,
      available: true,
      detail: safeUrl(this.#url),
      ...this.stats,
      queued: this.#queue.length,
    };
    if (this.#lastError !== undefined) status.last_error = this.#lastError;
    return status;
  }

  #describe(error: unknown): string {
    const text =
      error instanceof Error
        ? `${error.name}: ${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`
        : String(error);
    return this.#redactor.scrub(text).slice(0, 300);
  }

  onRunStart(runId: string, start: RunStart): void {
    this.#push('run_start', runId, start);
  }

  onStep(runId: string, step: StepRecord): void {
    this.#push('step', runId, step);
  }

  onRunEnd(runId: string, end: RunEnd): void {
    this.#push('run_end', runId, end);
  }

  /** `rlm-obs doctor`: POSTs an empty batch and expects a 2xx answer. */
  async check(): Promise<SinkCheckResult> {
    const where = safeUrl(this.#url);
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.#headers },
        body: '{"events":[]}',
        signal: AbortSignal.timeout(Math.min(this.#timeoutMs, 5000)),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok)
        return { ok: true, problems: [], detail: `${where} answered ${response.status}` };
      const auth = response.status === 401 || response.status === 403;
      return {
        ok: false,
        detail: where,
        problems: [
          {
            problem: `${where} answered HTTP ${response.status}`,
            fix: auth
              ? 'check the credentials in the headers option'
              : 'check the url option and that the receiver accepts POST',
          },
        ],
      };
    } catch (error) {
      const reason = this.#redactor.scrub(
        error instanceof Error
          ? error.cause instanceof Error
            ? error.cause.message
            : error.message
          : String(error),
      );
      return {
        ok: false,
        detail: where,
        problems: [
          {
            problem: `cannot reach ${where}: ${reason}`,
            fix: 'start the receiver or fix the url option',
          },
        ],
      };
    }
  }

  /**
   * Sends everything queued and resolves when the webhook has it; rejects when batches were
   * given up on during this flush, so the coordinator's flush report shows it.
   */
  async forceFlush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const failedBefore = this.stats.failed;
    while (this.#queue.length > 0 || this.#sending) {
      this.#kick();
      await this.#sending;
    }
    const lost = this.stats.failed - failedBefore;
    if (lost > 0)
      throw new Error(
        `${lost} events could not be delivered to ${safeUrl(this.#url)} (${this.#lastError ?? 'unknown error'})`,
      );
  }

  #shutdown: Promise<void> | undefined;
  shutdown(): Promise<void> {
    this.#closed = true;
    this.#shutdown ??= this.forceFlush();
    return this.#shutdown;
  }

  #push(type: WebhookEvent['type'], runId: string, payload: unknown): void {
    if (this.#closed || this.#queue.length >= this.#maxQueue) {
      this.stats.dropped++;
      return;
    }
    let id: string;
    try {
      id = String(runId);
    } catch {
      id = 'invalid-run-id';
    }
    this.#queue.push({ type, run_id: id, timestamp: Date.now(), payload });
    if (this.#queue.length >= this.#maxBatch) {
      this.#kick();
    } else if (this.#timer === undefined) {
      // Unref'd: a pending batch alone does not keep the host alive; the coordinator flushes
      // on exit.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick();
      }, this.#delayMs);
      this.#timer.unref?.();
    }
  }

  #kick(): void {
    if (this.#sending) return;
    this.#sending = this.#drain().finally(() => {
      this.#sending = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      await this.#send(batch);
    }
  }

  async #send(batch: WebhookEvent[]): Promise<void> {
    const body = safeStringify({ events: batch });
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      let wait: number | undefined;
      try {
        this.stats.requests++;
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...this.#headers },
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) {
          this.stats.sent += batch.length;
          return;
        }
        this.#lastError = `HTTP ${response.status}`;
        if (!RETRYABLE.has(response.status)) break;
        wait = retryAfterMs(response.headers.get('retry-after'));
      } catch (error) {
        this.#lastError = this.#describe(error);
        if (!isRetryable(error)) break;
      }
      if (attempt < this.#maxAttempts) {
        this.stats.retries++;
        await sleep(
          wait ?? Math.min(MAX_BACKOFF_MS, 100 * 2 ** (attempt - 1) + Math.random() * 100),
        );
      }
    }
    this.stats.failed += batch.length;
  }
}
