/**
 * The sink worker thread (see {@link createWorkerSinks}): creates the sinks it is given,
 * delivers the event batches the application's thread posts through its own coordinator
 * (ordered, bounded, timed-out per sink, exactly as in the main thread), and answers status,
 * flush, shutdown and check requests.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createPlaceholderSink, isPlaceholderSink } from '../config/placeholder-sink.js';
import { resolveSinkEntry, resolveSinkModule } from '../config/resolve-sink.js';
import { rememberOptionSecrets } from '../config/secrets.js';
import type { SinkContext, SinkModule } from '../config/types.js';
import type { RLMObservabilitySink } from '../contract.js';
import { isSinkLike, RLMObservability } from '../coordinator.js';
import { type DiagnosticLogger, errorText } from '../diagnostics.js';
import { createRedactor } from '../redact.js';
import { type FromWorker, HOOKS, type ToWorker, type WorkerInit } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('sink-worker.js runs in a worker thread (see createWorkerSinks)');
const init = workerData as WorkerInit;
const post = (message: FromWorker): void => port.postMessage(message);

/**
 * The sinks' own secrets (option values under secret-looking keys: apiKey, secretKey, token,
 * ...; header values; credentials in URL options) are scrubbed from everything the worker
 * sends back, in case a sink or its backend echoes one in a status or an error. The
 * application's thread remembers the same ones (see `rememberOptionSecrets`).
 */
const redactor = createRedactor({ env: init.env });
for (const spec of init.specs) rememberOptionSecrets(redactor, spec.options);

/**
 * Every string scrubbed before it is serialized: a secret with a character that JSON escapes
 * (`\r`, `"`, `\\`) would no longer match in the JSON text.
 */
const scrubValue = (_key: string, value: unknown): unknown =>
  typeof value === 'string' ? redactor.scrub(value) : value;
const scrubbedJson = (value: unknown): string => JSON.stringify(value, scrubValue);

const logger: DiagnosticLogger = {
  warn: (message) => post({ t: 'log', message: redactor.scrub(message) }),
};

let obs: RLMObservability | undefined;
const sinks: RLMObservabilitySink[] = [];
let lastStatus = '';
const ACK_INTERVAL_MS = 100;
let unacked = 0;
let ackTimer: ReturnType<typeof setTimeout> | undefined;

/** The sinks (bits of the batch masks) last reported busy. */
let busy = 0;
let busyTimer: ReturnType<typeof setInterval> | undefined;
const BUSY_CHECK_MS = 10;

function currentBusy(): number {
  return obs ? obs.busyMask(init.busyAt) * 2 ** init.bitOffset : 0;
}

function sendAck(now = currentBusy()): void {
  if (ackTimer !== undefined) clearTimeout(ackTimer);
  ackTimer = undefined;
  if (unacked === 0 && now === busy) return;
  post({ t: 'ack', n: unacked, b: now });
  unacked = 0;
  busy = now;
  // While a sink is busy, look again soon: its queue drains with no new events to wake us.
  if (busy !== 0) busyTimer ??= setInterval(checkBusy, BUSY_CHECK_MS).unref();
  else if (busyTimer !== undefined) {
    clearInterval(busyTimer);
    busyTimer = undefined;
  }
}

function checkBusy(): void {
  const now = currentBusy();
  if (now !== busy) sendAck(now);
}

/** Plain data only crosses threads: a status with a function or a class loses it here. */
function plainStatus(): { json: string; value: FromWorker & { t: 'status' } } {
  const json = scrubbedJson(obs?.status() ?? []);
  return { json, value: { t: 'status', status: JSON.parse(json) } };
}

/** Answers a request, after the acks of everything delivered before it. */
function reply(message: FromWorker & { t: 'reply' }): void {
  sendAck();
  post(JSON.parse(scrubbedJson(message)));
}

function postStatus(force: boolean): void {
  sendAck();
  const { json, value } = plainStatus();
  if (!force && json === lastStatus) return;
  lastStatus = json;
  post(value);
}

/**
 * Lowers this thread's CPU priority (Linux: a thread is a task with its own nice value), so
 * that on a busy machine the application's thread wins the CPU and the sinks take what is
 * left; their queues absorb the difference.
 */
function lowerPriority(nice: number): void {
  if (nice <= 0 || process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + nice));
  } catch {
    // not permitted or not Linux: run at the process's priority
  }
}

async function start(): Promise<void> {
  lowerPriority(init.nice);
  const context: SinkContext = {
    configDir: init.configDir,
    env: init.env,
    logger,
    fallbackDirs: init.fallbackDirs,
  };
  try {
    // All at once: a factory may wait for its backend (an auth or connection check).
    const created = await Promise.allSettled(
      init.specs.map((spec, i) =>
        spec.fromEnv
          ? sinkFromEnv(spec.use, context, spec.fallbackName)
          : resolveSinkEntry(
              { use: spec.use, options: spec.options ?? {} },
              { file: init.configFile, key: init.keys[i] ?? `sinks[${i}]` },
              context,
            ),
      ),
    );
    for (const result of created)
      if (result.status === 'fulfilled' && result.value) sinks.push(result.value);
    const failed = created.findIndex((r) => r.status === 'rejected' || !r.value);
    if (failed >= 0) {
      const result = created[failed]!;
      throw result.status === 'rejected'
        ? result.reason
        : new Error(`sink '${init.specs[failed]!.use}' could not be created`);
    }
  } catch (error) {
    await Promise.all(sinks.map((s) => Promise.resolve(s.shutdown?.()).catch(() => undefined)));
    const e = error as { message?: unknown; file?: unknown; key?: unknown };
    const file = typeof e?.file === 'string' ? e.file : undefined;
    const key = typeof e?.key === 'string' ? e.key : undefined;
    let message = typeof e?.message === 'string' ? e.message : String(error);
    // The other side builds the config error again from file and key: keep them out of the text.
    const where = ` (${[file, key].filter(Boolean).join(', ')})`;
    if (message.endsWith(where)) message = message.slice(0, -where.length);
    post({ t: 'init-error', message: redactor.scrub(message), file, key });
    port?.close();
    return;
  }
  obs = new RLMObservability({
    logger,
    flushOnExit: false,
    pricing: false,
    ...(init.maxQueueSize !== undefined ? { maxQueueSize: init.maxQueueSize } : {}),
    ...(init.callTimeoutMs !== undefined ? { callTimeoutMs: init.callTimeoutMs } : {}),
  });
  for (const sink of sinks) obs.addSink(sink);
  const { json, value } = plainStatus();
  lastStatus = json;
  post({
    t: 'ready',
    sinks: sinks.map((sink) => ({
      name: sink.name,
      local: sink.local === true,
      defaultSamplingRate:
        typeof sink.defaultSamplingRate === 'number' ? sink.defaultSamplingRate : undefined,
      scores: typeof sink.onScore === 'function',
      check: typeof sink.check === 'function',
      ...(isPlaceholderSink(sink) ? { placeholder: true } : {}),
    })),
    status: value.status,
  });
  // Status changes that happen between batches (an export failing later) reach the other side.
  setInterval(() => postStatus(false), init.statusIntervalMs).unref();
}

/**
 * A sink built by its package's `fromEnv(env)`, as environment activation does. With
 * `fallbackName`, a package that fails to load (or a `fromEnv` that throws) gives an enabled
 * placeholder saying why, as in the application's thread: the other sinks keep working.
 */
async function sinkFromEnv(
  use: string,
  context: SinkContext,
  fallbackName: string | undefined,
): Promise<RLMObservabilitySink | undefined> {
  try {
    const found = resolveSinkModule(use, context.configDir, context.fallbackDirs);
    if (!found) throw new Error(`${use} is not installed`);
    const mod = (await import(found.url)) as SinkModule;
    let sink: unknown;
    if (typeof mod.fromEnv === 'function') sink = await mod.fromEnv(context.env, context);
    else if (typeof mod.createSink === 'function') sink = await mod.createSink({}, context);
    else throw new Error(`${use} has neither fromEnv nor createSink`);
    if (fallbackName !== undefined && !isSinkLike(sink))
      throw new Error(`${use}'s fromEnv returned something that is not a sink`);
    return sink as RLMObservabilitySink | undefined;
  } catch (error) {
    if (fallbackName === undefined) throw error;
    const first = (errorText(error).split('\n')[0] ?? '').trim() || 'unknown error';
    const detail = redactor.scrub(`failed to load: ${first}`);
    logger.warn(
      `sink '${fallbackName}' (${use}) ${detail}; it records nothing, the other sinks carry on`,
    );
    return createPlaceholderSink(fallbackName, { enabled: true, detail });
  }
}

async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish in time`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * With `warmUpMs` set (off by default, see `WorkerSinksOptions.warmUpMs`), one flush that
 * long after the first events: each sink's first export costs far more than the next
 * (modules loaded on first use, code compiled, a connection opened). Done early, on this
 * thread, it is not paid in the flush that a short process ends with. Its outcome shows in
 * the statuses like any export's.
 */
let warmUp: ReturnType<typeof setTimeout> | 'done' | undefined;
function scheduleWarmUp(coordinator: RLMObservability): void {
  if (warmUp !== undefined) return;
  if (init.warmUpMs <= 0) {
    warmUp = 'done';
    return;
  }
  warmUp = setTimeout(() => {
    warmUp = 'done';
    void coordinator.flush({ timeoutMs: WARM_UP_TIMEOUT_MS }).then(() => postStatus(false));
  }, init.warmUpMs);
  warmUp.unref();
}
/** A flush or shutdown asked for by the application makes the warm-up pointless. */
function cancelWarmUp(): void {
  if (warmUp !== undefined && warmUp !== 'done') clearTimeout(warmUp);
  warmUp = 'done';
}
const WARM_UP_TIMEOUT_MS = 5_000;

async function handle(message: ToWorker): Promise<void> {
  const coordinator = obs;
  if (!coordinator) return;
  if (message.t !== 'ev' && message.t !== 'check') cancelWarmUp();
  switch (message.t) {
    case 'ev': {
      if (warmUp === undefined) scheduleWarmUp(coordinator);
      const b = JSON.parse(message.j) as unknown[];
      // The masks span every worker thread's sinks: this one's are `sinks.length` bits from
      // `bitOffset`.
      const offset = init.bitOffset;
      const mine = 2 ** sinks.length - 1;
      for (let i = 0; i + 3 < b.length; i += 4) {
        const mask = ((b[i + 3] as number) >>> offset) & mine;
        if (mask === 0) continue;
        coordinator.deliverPrepared(
          HOOKS[b[i] as number] ?? 'onStep',
          b[i + 1] as string,
          b[i + 2],
          mask,
        );
      }
      // Acks are batched (each message wakes the application's thread): at most ten a second,
      // unless a sink became busy.
      unacked += b.length / 4;
      const now = currentBusy();
      if (message.a || now !== busy) sendAck(now);
      else ackTimer ??= setTimeout(sendAck, ACK_INTERVAL_MS);
      return;
    }
    case 'flush': {
      const report = await coordinator.flush({ timeoutMs: message.timeoutMs });
      // The status first: whoever awaited the flush reads it next.
      postStatus(true);
      reply({ t: 'reply', id: message.id, report: { ok: report.ok, sinks: report.sinks } });
      return;
    }
    case 'shutdown': {
      const all = sinks.every((sink) => message.names.includes(sink.name));
      if (all) {
        const report = await coordinator.shutdown({ timeoutMs: message.timeoutMs });
        lastStatus = '';
        postStatus(true);
        reply({ t: 'reply', id: message.id, report: { ok: report.ok, sinks: report.sinks } });
        port?.close();
        return;
      }
      // Some of the sinks close (removed from the application's coordinator): flush
      // everything, then shut those down; the others keep working.
      const started = performance.now();
      const report = await coordinator.flush({ timeoutMs: message.timeoutMs });
      for (const result of report.sinks) {
        if (!message.names.includes(result.name)) continue;
        const sink = coordinator.getSink(result.name);
        const left = Math.max(0, message.timeoutMs - (performance.now() - started));
        try {
          if (sink?.shutdown)
            await withDeadline(Promise.resolve(sink.shutdown()), left, 'shutdown');
        } catch (error) {
          result.ok = false;
          result.error = error instanceof Error ? error.message : String(error);
        }
      }
      postStatus(true);
      reply({ t: 'reply', id: message.id, report: { ok: report.ok, sinks: report.sinks } });
      return;
    }
    case 'check': {
      const sink = coordinator.getSink(message.name);
      try {
        const result = sink?.check ? await sink.check() : undefined;
        reply({ t: 'reply', id: message.id, check: JSON.parse(JSON.stringify(result ?? null)) });
      } catch (error) {
        reply({
          t: 'reply',
          id: message.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return;
    }
  }
}

port.on('message', (message: ToWorker) => {
  handle(message).catch((error: unknown) => {
    const id = (message as { id?: unknown }).id;
    const text = error instanceof Error ? error.message : String(error);
    if (typeof id === 'number') reply({ t: 'reply', id, error: text });
    else logger.warn(`sink worker: ${text}`);
  });
});

/**
 * The thread ends under the sinks (one called `process.exit()`, or an uncaught error): the
 * statuses as they are now go out first, so the application's thread counts what the sinks
 * delivered and reports only the rest — the events in flight — as lost.
 */
process.on('exit', () => {
  try {
    if (obs) postStatus(true);
  } catch {
    // the port is closed (a shutdown, already reported)
  }
});

void start();
