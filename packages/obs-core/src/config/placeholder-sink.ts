import {
  type RLMObservabilitySink,
  SINK_SPECIFICATION_VERSION,
  type SinkStatus,
} from '../contract.js';

/**
 * Stands in for a sink that is disabled or whose package is not installed, so `status()`
 * still lists it (the Python original shows a missing dependency the same way). Its hooks do
 * nothing.
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
  return {
    name,
    specificationVersion: SINK_SPECIFICATION_VERSION,
    status: () => ({ ...status }),
    onRunStart() {},
    onStep() {},
    onRunEnd() {},
  };
}
