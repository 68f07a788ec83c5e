// Every sink from one config file. A falsy entry is skipped, so each remote sink switches on
// when its settings are in the environment; secrets come in through ${VAR}, never the file.
import { defineConfig } from '@rlm/obs-core';

const env = process.env;

export default defineConfig({
  sinks: [
    ['jsonl', { dir: '.rlm_code/rlm/observability' }], // relative to this file
    // Without an endpoint option the sink takes OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL and
    // _HEADERS together (an endpoint option alone would export over gRPC, the default).
    env.OTEL_EXPORTER_OTLP_ENDPOINT && 'otel',
    env.LOGFIRE_TOKEN && ['logfire', { token: '${LOGFIRE_TOKEN}' }],
    env.LANGFUSE_SECRET_KEY && [
      'langfuse',
      { publicKey: '${LANGFUSE_PUBLIC_KEY}', secretKey: '${LANGFUSE_SECRET_KEY}' },
    ],
    env.LANGSMITH_API_KEY && ['langsmith', { apiKey: '${LANGSMITH_API_KEY}' }],
    env.MLFLOW_TRACKING_URI && ['mlflow', { trackingUri: '${MLFLOW_TRACKING_URI}' }],
    env.HOOK_URL && ['webhook', { url: '${HOOK_URL}' }],
  ],
  attributes: { example: 'config-driven', team: '${TEAM:-ml-platform}' },
  sampling: { rate: 1 },
  redact: { keys: ['customer_email'] },
});
