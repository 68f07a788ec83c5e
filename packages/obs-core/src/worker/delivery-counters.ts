/**
 * A stand-in sink whose events are delivered elsewhere (a sink in a worker thread) reports the
 * real delivery counters: for it, the coordinator's own counters only count the hand-over
 * (an event handed to the worker is "delivered" however the sink fares there).
 * @internal
 */
import type { RLMObservabilitySink } from '../contract.js';
import type { SinkCounters } from '../sink-channel.js';

/** The stand-in's method: the sink's counters, given the coordinator's hand-over counters. */
export const DELIVERY_COUNTERS: unique symbol = Symbol.for('@rlm/obs-core/deliveryCounters');

/** @internal */
export interface DeliversElsewhere {
  [DELIVERY_COUNTERS](handOver: SinkCounters): SinkCounters;
}

/**
 * What `flush()`/`shutdown()` report as the sink's counters: for a stand-in, its own (the
 * worker's: delivered, failed, dropped and lost); for any other sink, the coordinator's.
 * @internal
 */
export function deliveryCounters(sink: RLMObservabilitySink, handOver: SinkCounters): SinkCounters {
  let own: unknown;
  try {
    own = (sink as Partial<DeliversElsewhere>)[DELIVERY_COUNTERS];
  } catch {
    return handOver;
  }
  if (typeof own !== 'function') return handOver;
  try {
    return (own as DeliversElsewhere[typeof DELIVERY_COUNTERS]).call(sink, handOver);
  } catch {
    return handOver;
  }
}
