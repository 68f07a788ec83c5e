/**
 * Keeping a sink's own credentials out of its `status()` detail, counters and `check()`
 * (DESIGN.md section 3): exporter and setup errors may quote a header value (grpc-js does),
 * a URL with its `user:password@`, or a backend's answer that echoes the token.
 */
import { createRedactor, errorText } from '@rlm/obs-core';

/** Masks a sink's own secrets and every URL credential in a diagnostic text. */
export type Scrub = (text: unknown) => string;

/** What {@link secretScrubber} must know to mask. */
export interface SecretScrubberOptions {
  /** Header values sent with every request (`Authorization`, `x-api-key`, ...). */
  headers?: Record<string, string | undefined> | undefined;
  /** Other secrets of the sink: tokens, API keys, passwords. */
  secrets?: Array<string | undefined>;
  /** URLs of the sink, whose `user:password@` is masked wherever it appears. */
  urls?: Array<string | undefined>;
  /**
   * The environment: the OTLP exporters read `OTEL_EXPORTER_OTLP_HEADERS` (and the per-signal
   * variants) from it on their own, so their values are masked too, as are secret-looking
   * variables (`*_TOKEN`, `*_API_KEY`, ...).
   * @defaultValue `process.env`
   */
  env?: Record<string, string | undefined>;
}

/** The environment variables whose header values the OTLP exporters use by themselves. */
const HEADER_VARIABLES = [
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
  'OTEL_EXPORTER_OTLP_METRICS_HEADERS',
  'OTEL_EXPORTER_OTLP_LOGS_HEADERS',
];

/** Scheme words of a credential header: common text, not secrets. */
const SCHEMES = /^(bearer|basic|token|apikey|digest)$/i;

/** The forms a secret may take inside an error message. */
function forms(secret: string): string[] {
  const out = [secret, secret.trim()];
  // `Bearer <token>`, or the part of a value around an illegal character.
  for (const part of secret.split(/[\s\x00-\x1f\x7f]+/)) if (!SCHEMES.test(part)) out.push(part);
  out.push(JSON.stringify(secret).slice(1, -1));
  try {
    out.push(encodeURIComponent(secret));
    out.push(decodeURIComponent(secret));
  } catch {
    // not percent-encoded
  }
  return out;
}

/**
 * A scrub for one sink: it masks the sink's header values and secrets, the credentials of its
 * URLs (in any URL of the text too), `Bearer`/`Basic` credentials and secret-looking
 * environment variables. Errors are read with {@link errorText}.
 *
 * @example
 * ```ts
 * const scrub = secretScrubber({ headers: { 'x-api-key': key }, urls: [endpoint] });
 * detail = `unavailable: ${scrub(error)}`;
 * ```
 */
export function secretScrubber(options: SecretScrubberOptions = {}): Scrub {
  const env = options.env ?? (typeof process !== 'undefined' ? process.env : {});
  const redactor = createRedactor({ env });
  const remember = (secret: string | undefined): void => {
    if (typeof secret !== 'string' || secret === '') return;
    for (const form of forms(secret)) redactor.remember(form);
  };
  for (const value of Object.values(options.headers ?? {})) remember(value);
  for (const secret of options.secrets ?? []) remember(secret);
  for (const url of options.urls ?? []) {
    if (typeof url !== 'string') continue;
    // Masking the URL teaches the redactor its `user:password` (raw and after the colon).
    redactor.redactString(url);
    try {
      const u = new URL(url);
      if (u.password) remember(u.password);
      if (u.username && u.password) remember(`${u.username}:${u.password}`);
    } catch {
      // not a URL: masked by pattern only
    }
  }
  for (const name of HEADER_VARIABLES) {
    for (const pair of (env[name] ?? '').split(',')) {
      const i = pair.indexOf('=');
      if (i > 0) remember(pair.slice(i + 1));
    }
  }
  return (text: unknown): string =>
    redactor.scrub(typeof text === 'string' ? text : errorText(text));
}

/** A header name gRPC metadata can carry (grpc-js: lower case letters, digits, `_.-`). */
const LEGAL_GRPC_KEY = /^[0-9a-z_.-]+$/;
/** A value gRPC metadata can carry for a non-binary key: printable ASCII. */
const LEGAL_GRPC_VALUE = /^[ -~]*$/;

/**
 * Why gRPC metadata cannot carry these headers, or `undefined` when it can. The message
 * names a valid header but never quotes a value (grpc-js's own error quotes it), nor a name
 * that is not valid (it may hold a secret, as in `Authorization: Bearer …=`).
 */
export function grpcHeadersProblem(
  headers: Record<string, string | undefined>,
): string | undefined {
  for (const [rawKey, value] of Object.entries(headers)) {
    const key = rawKey.toLowerCase();
    if (!LEGAL_GRPC_KEY.test(key))
      return 'a header has a name gRPC metadata cannot carry (illegal characters; use lower case letters, digits, "_", "." and "-")';
    if (key.endsWith('-bin'))
      return `header '${key}' ends in -bin: gRPC metadata takes only binary values under such names`;
    if (typeof value !== 'string') return `header '${key}' has no string value for gRPC metadata`;
    if (!LEGAL_GRPC_VALUE.test(value))
      return `header '${key}' has a value gRPC metadata cannot carry (illegal characters)`;
  }
  return undefined;
}
