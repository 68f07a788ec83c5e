import type { StandardSchemaV1 } from '@rlm/obs-core';

/** Options of the webhook sink. */
export interface WebhookSinkOptions {
  /**
   * Where events are POSTed (required: the option, else `RLM_SINK_WEBHOOK_URL` in the
   * environment the config was loaded with).
   */
  url: string;
  /** Extra request headers, for example an authorization header. @defaultValue `{}` */
  headers?: Record<string, string>;
  /** The sink's name. @defaultValue `'webhook'` */
  name?: string;
  /** Events per request. @defaultValue `100` */
  maxBatchSize?: number;
  /** How long events wait for a batch to fill. @defaultValue `1000` */
  scheduledDelayMs?: number;
  /** Events held in memory; more are dropped and counted. @defaultValue `10000` */
  maxQueueSize?: number;
  /** Attempts per batch on 429, 5xx and network errors. @defaultValue `5` */
  maxAttempts?: number;
  /** Per-request timeout. @defaultValue `10000` */
  exportTimeoutMs?: number;
}

type Issue = { message: string; path?: PropertyKey[] };

/**
 * The options as a Standard Schema (https://standardschema.dev): written by hand here to keep
 * the package free of dependencies; a zod, valibot or arktype schema works the same way.
 */
export const optionsSchema: StandardSchemaV1<unknown, WebhookSinkOptions> = {
  '~standard': {
    version: 1,
    vendor: 'rlm-sink-webhook',
    validate(value) {
      const issues: Issue[] = [];
      if (typeof value !== 'object' || value === null)
        return { issues: [{ message: 'Expected an object' }] };
      const v = value as Record<string, unknown>;
      // Optional here: without it, createSink takes RLM_SINK_WEBHOOK_URL from the environment.
      if (v.url === undefined) {
        // checked by createSink
      } else if (typeof v.url !== 'string') {
        issues.push({ message: 'Expected a URL string', path: ['url'] });
      } else {
        try {
          const url = new URL(v.url);
          if (url.protocol !== 'http:' && url.protocol !== 'https:')
            issues.push({ message: 'Expected an http(s) URL', path: ['url'] });
        } catch {
          issues.push({ message: 'Expected a valid URL', path: ['url'] });
        }
      }
      if (
        v.headers !== undefined &&
        (typeof v.headers !== 'object' ||
          v.headers === null ||
          Object.values(v.headers).some((h) => typeof h !== 'string'))
      ) {
        issues.push({ message: 'Expected an object of strings', path: ['headers'] });
      }
      for (const key of [
        'maxBatchSize',
        'scheduledDelayMs',
        'maxQueueSize',
        'maxAttempts',
        'exportTimeoutMs',
      ]) {
        const n = v[key];
        if (n !== undefined && !(typeof n === 'number' && Number.isFinite(n) && n > 0))
          issues.push({ message: 'Expected a positive number', path: [key] });
      }
      if (v.name !== undefined && (typeof v.name !== 'string' || v.name === ''))
        issues.push({ message: 'Expected a non-empty string', path: ['name'] });
      return issues.length > 0 ? { issues } : { value: v as unknown as WebhookSinkOptions };
    },
  },
};
