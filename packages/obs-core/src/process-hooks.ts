/**
 * Getting events out when the process ends (DESIGN.md section 4, item 4).
 *
 * One `beforeExit` listener for all coordinators flushes those with undelivered work when the
 * event loop runs dry, so a script that never calls `flush()` still gets its events out. It
 * adds no work to a loop that has none, so the process still exits by itself. Signal
 * handlers are installed only on request: a library must not take over the host's signals.
 */

/** What the process hooks need from a coordinator. */
export interface ExitParticipant {
  /** True when events arrived since the last flush started. */
  readonly needsFlush: boolean;
  flushOnExit(): Promise<unknown>;
  shutdownOnSignal(): Promise<unknown>;
}

const participants = new Set<ExitParticipant>();
let beforeExitInstalled = false;

function onBeforeExit(): void {
  for (const participant of participants) {
    if (participant.needsFlush) void participant.flushOnExit();
  }
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
