/**
 * Content switches: `recordContent: false` (global or per run, with separate switches for
 * inputs and outputs) keeps code, outputs, task text and LLM messages away from every sink
 * that is not local, while keeping their sizes (and every timing, reward, token count).
 */
import type { JsonValue, RunEnd, RunStart, StepEvent } from './contract.js';

/** What `recordContent` accepts. */
export type RecordContent = boolean | { inputs?: boolean; outputs?: boolean };

/** A resolved content policy. */
export interface ContentPolicy {
  inputs: boolean;
  outputs: boolean;
}

export const RECORD_ALL: ContentPolicy = Object.freeze({ inputs: true, outputs: true });

/** `true`/`undefined` record everything; `false` nothing; an object decides per side. */
export function contentPolicy(
  value: RecordContent | undefined,
  fallback: ContentPolicy = RECORD_ALL,
): ContentPolicy {
  if (value === undefined || value === null) return fallback;
  if (value === true) return RECORD_ALL;
  if (value === false) return { inputs: false, outputs: false };
  if (typeof value === 'object')
    return {
      inputs: value.inputs === undefined ? fallback.inputs : value.inputs !== false,
      outputs: value.outputs === undefined ? fallback.outputs : value.outputs !== false,
    };
  return fallback;
}

/** The text that replaces a withheld value: its size, never its content. */
export function omitted(value: JsonValue | undefined): string {
  if (typeof value === 'string') return `[content omitted: ${value.length} chars]`;
  const size = value === undefined ? 0 : JSON.stringify(value).length;
  return `[content omitted: ${size} chars of JSON]`;
}

/** Keys of a step event that carry LLM input or output (messages, prompts, completions). */
const INPUT_KEYS = ['messages', 'prompt', 'input', 'inputs', 'system'];
const OUTPUT_KEYS = ['completion', 'response', 'output', 'outputs'];

function withhold(target: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of new Set(keys)) {
    const value = target[key];
    if (value !== undefined && value !== null) target[key] = omitted(value as JsonValue);
  }
}

function cloneObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? { ...(value as Record<string, unknown>) }
    : undefined;
}

/** A run start without its task text (an input). */
export function stripStart(start: RunStart, policy: ContentPolicy): RunStart {
  if (policy.inputs) return start;
  return { ...start, task: omitted(start.task) };
}

/** A step without code, rationale, LLM messages (inputs) or output and error (outputs). */
export function stripStep(event: StepEvent, policy: ContentPolicy): StepEvent {
  const out: Record<string, unknown> = { ...event };
  if (!policy.inputs) {
    const action = cloneObject(event.action);
    if (action) {
      withhold(action, ['code', 'rationale', ...INPUT_KEYS]);
      out.action = action;
    }
    withhold(
      out,
      INPUT_KEYS.filter((k) => k !== 'input' || typeof out.input !== 'number'),
    );
  }
  if (!policy.outputs) {
    const observation = cloneObject(event.observation);
    if (observation) {
      withhold(observation, ['output', 'error', ...OUTPUT_KEYS]);
      out.observation = observation;
    }
    withhold(out, OUTPUT_KEYS);
  }
  const usage = event.usage;
  if (usage !== undefined && (!policy.inputs || !policy.outputs)) {
    const strip = (u: unknown) => {
      const copy = cloneObject(u);
      if (!copy) return u;
      if (!policy.inputs) withhold(copy, INPUT_KEYS);
      if (!policy.outputs) withhold(copy, OUTPUT_KEYS);
      return copy;
    };
    out.usage = (Array.isArray(usage) ? usage.map(strip) : strip(usage)) as StepEvent['usage'];
  }
  return out as StepEvent;
}

/** A run end without its final answer (an output). */
export function stripEnd(end: RunEnd, policy: ContentPolicy): RunEnd {
  if (policy.outputs) return end;
  const result = { ...end.result };
  if (result.finalAnswer !== undefined) result.finalAnswer = omitted(result.finalAnswer);
  if (typeof result.error === 'string') result.error = omitted(result.error);
  return { ...end, result };
}
