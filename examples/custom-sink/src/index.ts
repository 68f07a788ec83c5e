/**
 * rlm-sink-webhook — POSTs rlm-obs run events to a URL. Listed in a config as `'webhook'`
 * (resolved as `@rlm/sink-webhook`, then `rlm-sink-webhook`).
 */
import type { RLMObservabilitySink, SinkContext } from '@rlm/obs-core';
import { optionsSchema, type WebhookSinkOptions } from './options.js';
import { WebhookSink } from './webhook-sink.js';

export type { WebhookSinkOptions } from './options.js';
export { optionsSchema } from './options.js';
export type { WebhookEvent } from './webhook-sink.js';
export { WebhookSink } from './webhook-sink.js';

/**
 * The sink package contract: `createSink(options, context)`, also the default export. The
 * loader validates `options` against `optionsSchema` first; calling it directly validates too.
 *
 * @example
 * ```ts
 * // rlm-obs.config.json
 * { "sinks": ["jsonl", ["webhook", { "url": "${HOOK_URL}" }]] }
 * ```
 */
export function createSink(
  options: Partial<WebhookSinkOptions> = {},
  context?: Partial<SinkContext>,
): RLMObservabilitySink {
  // An option the config leaves unset comes from the environment it was loaded with.
  const url = options.url ?? context?.env?.RLM_SINK_WEBHOOK_URL;
  if (url === undefined || url === '')
    throw new Error(
      'rlm-sink-webhook: url: Expected a URL string (the url option or RLM_SINK_WEBHOOK_URL)',
    );
  const result = optionsSchema['~standard'].validate({ ...options, url });
  if ('issues' in result && result.issues) {
    const issue = result.issues[0]!;
    const where = issue.path?.length ? `${issue.path.map(String).join('.')}: ` : '';
    throw new Error(`rlm-sink-webhook: ${where}${issue.message}`);
  }
  return new WebhookSink({ ...options, url });
}

/** Activation from the environment: `RLM_SINK_WEBHOOK_URL`. */
export function fromEnv(env: Record<string, string | undefined>): RLMObservabilitySink | undefined {
  const url = env.RLM_SINK_WEBHOOK_URL;
  return url ? createSink({ url }) : undefined;
}

export default createSink;
