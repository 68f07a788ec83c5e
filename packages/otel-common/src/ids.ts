import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

function randomHex(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += Math.floor(Math.random() * 16).toString(16);
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

/**
 * An id generator that hands out the ids the sink chose for the next span (derived from the
 * run id and step, so a replay yields the same ids), and random ids otherwise. Set the
 * `next*` fields right before `tracer.startSpan()`; they are used once.
 */
export class RunIdGenerator implements IdGenerator {
  nextTraceId: string | undefined;
  nextSpanId: string | undefined;

  generateTraceId(): string {
    const id = this.nextTraceId;
    this.nextTraceId = undefined;
    return id ?? randomHex(32);
  }

  generateSpanId(): string {
    const id = this.nextSpanId;
    this.nextSpanId = undefined;
    return id ?? randomHex(16);
  }

  /** Forgets ids a failed hook left behind. */
  reset(): void {
    this.nextTraceId = undefined;
    this.nextSpanId = undefined;
  }
}
