import {
  type RLMObservabilitySink,
  SINK_SPECIFICATION_VERSION,
  type SinkStatus,
} from '../contract.js';

/**
 * Marks a stand-in for a sink that records nothing (see {@link createPlaceholderSink}). The
 * coordinator sends it no events, and its `flush()`/`shutdown()` reports say `ok: false`
 * (with its detail as the error) when it is enabled.
 */
export const PLACEHOLDER_SINK: unique symbol = Symbol.for('@rlm/obs-core/placeholderSink');

/**
 * Stands in for a sink that is disabled, whose package is not installed or failed to load,
 * so `status()` still lists it (the Python original shows a missing dependency the same way).
 * Its hooks do nothing; the coordinator knows it (see {@link isPlaceholderSink}), so it sends
 * it no events and never counts them as delivered.
 */
export function createPlaceholderSink(
  name: string,
  state: { enabled: boolean; detail: string },
): RLMObservabilitySink {
  const status: SinkStatus = {
    name,
    enabled: state.enabled,
    available: false,
    detail: state.detail,
  };
  const sink: RLMObservabilitySink & { [PLACEHOLDER_SINK]: true } = {
    name,
    specificationVersion: SINK_SPECIFICATION_VERSION,
    status: () => ({ ...status }),
    onRunStart() {},
    onStep() {},
    onRunEnd() {},
    [PLACEHOLDER_SINK]: true,
  };
  return sink;
}

/** Whether `sink` is a stand-in that records nothing ({@link createPlaceholderSink}). */
export function isPlaceholderSink(sink: unknown): boolean {
  try {
    return (
      typeof sink === 'object' &&
      sink !== null &&
      (sink as { [PLACEHOLDER_SINK]?: unknown })[PLACEHOLDER_SINK] === true
    );
  } catch {
    return false;
  }
}
