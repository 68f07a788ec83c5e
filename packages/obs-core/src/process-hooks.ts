/**
 * Getting events out when the process ends (DESIGN.md section 4, item 4).
 *
 * One `beforeExit` listener for all coordinators flushes those with undelivered work when the
 * event loop runs dry, so a script that never calls `flush()` still gets its events out. It
 * adds no work to a loop that has none, so the process still exits by itself. Opt-in: when the
 * flush is over (done, or its deadline passed) and work a sink left behind still keeps the
 * process alive — an SDK retrying a backend that is down — the process is ended after a grace
 * (`exitGraceMs`). Off by default: the application's own `beforeExit` work would be ended too,
 * and a library must not end its host's process.
 * Signal handlers are installed only on request: a library must not take over the host's
 * signals.
 */

/** What the process hooks need from a coordinator. */
export interface ExitParticipant {
  /** True when events arrived since the last flush started. */
  readonly needsFlush: boolean;
  flushOnExit(): Promise<unknown>;
  shutdownOnSignal(): Promise<unknown>;
  /**
   * How long work left after the exit flush may keep the process alive before it is ended;
   * `false`: as long as it takes.
   */
  readonly exitGraceMs: number | false;
  /** Says why the process is being ended (just before `process.exit()`). */
  endingProcess(graceMs: number): void;
}

/** Coordinators with events not flushed yet (held only until their next flush). */
const participants = new Set<ExitParticipant>();
let beforeExitInstalled = false;

function onBeforeExit(): void {
  const flushed: ExitParticipant[] = [];
  const flushes: Promise<unknown>[] = [];
  for (const participant of participants) {
    if (!participant.needsFlush) continue;
    flushed.push(participant);
    flushes.push(participant.flushOnExit());
  }
  if (flushes.length === 0) return;
  void Promise.allSettled(flushes).then(() => {
    // The most patient participant decides; one that waits for ever means no ending at all.
    let grace = 0;
    for (const participant of flushed) {
      const ms = participant.exitGraceMs;
      if (ms === false) return;
      grace = Math.max(grace, ms);
    }
    // Unref'ed: it fires only if something else still keeps the loop alive.
    setTimeout(() => {
      for (const participant of flushed) participant.endingProcess(grace);
      process.exit();
    }, grace).unref();
  });
}

/** @internal */
export function registerForExit(participant: ExitParticipant): void {
  participants.add(participant);
  if (!beforeExitInstalled && typeof process !== 'undefined' && process.on) {
    beforeExitInstalled = true;
    process.on('beforeExit', onBeforeExit);
  }
}

/** @internal */
export function unregisterForExit(participant: ExitParticipant): void {
  participants.delete(participant);
}

/**
 * Opt-in: on each of `signals`, shut the participant down, then re-raise the signal so the
 * process ends the way it would have without us (unless the host listens to it too).
 * Returns a function that removes the handlers.
 */
export function installSignalHandlers(
  participant: ExitParticipant,
  signals: readonly NodeJS.Signals[],
): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  const remove = (): void => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    handlers.clear();
  };
  for (const signal of signals) {
    const handler = (): void => {
      remove();
      void participant.shutdownOnSignal().finally(() => {
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  return remove;
}
