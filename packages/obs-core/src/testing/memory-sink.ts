import {
  type RLMObservabilitySink,
  type RunEnd,
  type RunStart,
  type ScoreRecord,
  SINK_SPECIFICATION_VERSION,
  type SinkHook,
  type SinkStatus,
  type StepRecord,
} from '../contract.js';

/** One call a {@link MemorySink} received. */
export type RecordedEvent =
  | { hook: 'onRunStart'; runId: string; payload: RunStart }
  | { hook: 'onStep'; runId: string; payload: StepRecord }
  | { hook: 'onRunEnd'; runId: string; payload: RunEnd };

/**
 * A sink that keeps every event in memory, for tests (the idea of OpenTelemetry's
 * `InMemorySpanExporter`).
 *
 * @example
 * ```ts
 * const memory = new MemorySink();
 * const obs = RLMObservability.withSinks([memory]);
 * obs.startRun({ task: 't' }).end();
 * expect(memory.events.map((e) => e.hook)).toEqual(['onRunStart', 'onRunEnd']);
 * ```
 */
export class MemorySink implements RLMObservabilitySink {
  readonly name: string;
  readonly specificationVersion = SINK_SPECIFICATION_VERSION;
  readonly events: RecordedEvent[] = [];
  /** Scores and feedback (`onScore`), apart from `events` so hook sequences stay simple. */
  readonly scores: Array<{ runId: string; score: ScoreRecord }> = [];
  flushes = 0;
  shutdowns = 0;

  constructor(name = 'memory') {
    this.name = name;
  }

  status(): SinkStatus {
    return {
      name: this.name,
      enabled: true,
      available: true,
      detail: `${this.events.length} events in memory`,
      events: this.events.length,
    };
  }

  onRunStart(runId: string, start: RunStart): void {
    this.events.push({ hook: 'onRunStart', runId, payload: start });
  }

  onStep(runId: string, step: StepRecord): void {
    this.events.push({ hook: 'onStep', runId, payload: step });
  }

  onRunEnd(runId: string, end: RunEnd): void {
    this.events.push({ hook: 'onRunEnd', runId, payload: end });
  }

  onScore(runId: string, score: ScoreRecord): void {
    this.scores.push({ runId, score });
  }

  async forceFlush(): Promise<void> {
    this.flushes++;
  }

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }

  /** The events of one run, in arrival order. */
  eventsOf(runId: string): RecordedEvent[] {
    return this.events.filter((e) => e.runId === runId);
  }

  /** The step records of one run, in arrival order. */
  stepsOf(runId: string): StepRecord[] {
    return this.events
      .filter(
        (e): e is Extract<RecordedEvent, { hook: 'onStep' }> =>
          e.hook === 'onStep' && e.runId === runId,
      )
      .map((e) => e.payload);
  }

  /** How many events of a hook arrived. */
  count(hook?: SinkHook): number {
    return hook ? this.events.filter((e) => e.hook === hook).length : this.events.length;
  }

  clear(): void {
    this.events.length = 0;
  }
}
