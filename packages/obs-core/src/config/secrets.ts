/**
 * The secrets in sink options, for the redactors that scrub diagnostics (status details, log
 * lines, errors) in the application's thread and in the sink worker alike: one list, so both
 * sides mask the same values.
 *
 * A secret is a string under a secret-looking key (apiKey, secretKey, token, password, ...),
 * any value under a `headers` key (`x-api-key`, `x-honeycomb-team`: header names rarely say
 * "secret"), and the credentials inside a URL option (`https://user:pass@host`, `?token=`,
 * `Bearer …`).
 */
import type { DiagnosticLogger } from '../diagnostics.js';
import { createRedactor, type Redactor } from '../redact.js';

const URL_USERINFO = /[a-z][a-z0-9+.-]*:\/\/([^\s/?#@]+)@/gi;
const QUERY_PARAM = /[?&]([^=&#\s?]+)=([^&#\s"']+)/g;
/** Query parameters that carry a credential without a secret word in their name. */
const SECRET_PARAMS = new Set([
  'key',
  'sig',
  'signature',
  'auth',
  'x-amz-signature',
  'x-amz-credential',
  'x-goog-signature',
  'x-goog-credential',
]);
const AUTH_SCHEME = /\b(?:Bearer|Basic)\s+([A-Za-z0-9._~+/=-]{8,})/gi;
/** `headers`, `extraHeaders`, `http_headers`, ...: every value under it is a secret. */
const HEADERS_KEY = /headers$/i;
/** Option trees are small; a huge or deep one (an SDK client passed as an option) is cut off. */
const MAX_DEPTH = 8;
const MAX_NODES = 10_000;

let builtInKeys: ((key: string) => boolean) | undefined;
/** The redactor's built-in secret key words. */
function defaultIsSecretKey(key: string): boolean {
  builtInKeys ??= createRedactor({ env: {} }).isSecretKey;
  return builtInKeys(key);
}

function decoded(text: string): string | undefined {
  try {
    const out = decodeURIComponent(text);
    return out === text ? undefined : out;
  } catch {
    return undefined;
  }
}

/**
 * The credentials inside a text: URL user info (and its password), the values of query
 * parameters named like a secret, bearer tokens.
 */
export function textSecrets(
  text: string,
  isSecretKey: (key: string) => boolean = defaultIsSecretKey,
): string[] {
  if (typeof text !== 'string' || text.length < 8) return [];
  const found: string[] = [];
  const add = (value: string | undefined): void => {
    if (!value) return;
    found.push(value);
    const plain = decoded(value);
    if (plain) found.push(plain);
  };
  if (text.includes('://')) {
    for (const match of text.matchAll(URL_USERINFO)) {
      const userinfo = match[1]!;
      add(userinfo);
      const colon = userinfo.indexOf(':');
      if (colon > 0) add(userinfo.slice(colon + 1));
    }
  }
  if (text.includes('=') && (text.includes('?') || text.includes('&'))) {
    for (const match of text.matchAll(QUERY_PARAM)) {
      const name = match[1]!;
      if (SECRET_PARAMS.has(name.toLowerCase()) || isSecretKey(name)) add(match[2]);
    }
  }
  if (/bearer|basic/i.test(text)) for (const match of text.matchAll(AUTH_SCHEME)) add(match[1]);
  return found;
}

function isPlainContainer(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The secrets in a sink's options (see the module comment). Each is listed as given, as JSON
 * escapes it, and trimmed (a backend or SDK may echo `"key\r"` as `key`). Only plain objects
 * and arrays are walked.
 *
 * @param isSecretKey which keys name a secret; @defaultValue the redactor's built-in words
 */
export function optionSecrets(options: unknown, isSecretKey?: (key: string) => boolean): string[] {
  const secretKey = isSecretKey ?? defaultIsSecretKey;
  const found = new Set<string>();
  const add = (value: string): void => {
    if (value.length === 0) return;
    found.add(value);
    // As JSON writes it: a sink or a backend that quotes its options or request as JSON.
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) found.add(escaped);
    const trimmed = value.trim();
    if (trimmed.length > 0 && trimmed !== value) found.add(trimmed);
  };
  let nodes = 0;
  const walk = (value: unknown, key: string, secret: boolean, depth: number): void => {
    if (depth > MAX_DEPTH || ++nodes > MAX_NODES) return;
    if (typeof value === 'string') {
      if (secret || secretKey(key)) {
        add(value);
        // `headers: 'x-api-key=abc,x-team=def'` (the OTEL_EXPORTER_OTLP_HEADERS form).
        if (HEADERS_KEY.test(key)) {
          for (const pair of value.split(',')) {
            const i = pair.indexOf('=');
            if (i < 0) continue;
            const raw = pair.slice(i + 1);
            add(raw);
            const plain = decoded(raw.trim());
            if (plain) add(plain);
          }
        }
      }
      for (const credential of textSecrets(value, secretKey)) add(credential);
      return;
    }
    if (value === null || typeof value !== 'object' || !isPlainContainer(value)) return;
    const inner = secret || (key !== '' && (HEADERS_KEY.test(key) || secretKey(key)));
    try {
      if (Array.isArray(value)) {
        for (const item of value) walk(item, key, inner, depth + 1);
        return;
      }
      for (const [k, v] of Object.entries(value)) walk(v, k, inner, depth + 1);
    } catch {
      // a throwing getter: the rest of this object is left out
    }
  };
  walk(options, '', false, 0);
  return [...found];
}

/** Makes `redactor` scrub the secrets of these sink options from every diagnostic text. */
export function rememberOptionSecrets(redactor: Redactor, options: unknown): void {
  for (const secret of optionSecrets(options, redactor.isSecretKey)) redactor.remember(secret);
}

/** The options of a config `sinks` entry (`[name, options]` or `{ use, options }`), if any. */
export function entryOptions(entry: unknown): unknown {
  if (Array.isArray(entry)) return entry[1];
  if (entry && typeof entry === 'object' && 'use' in entry)
    return (entry as { options?: unknown }).options;
  return undefined;
}

/**
 * Scrubs an error's message and stack, and its causes', in place (the error keeps its class,
 * `file` and `key`). Returns the error.
 */
export function scrubError<T>(error: T, scrub: (text: string) => string): T {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const e = current as Error;
    try {
      const message = scrub(e.message);
      if (message !== e.message) e.message = message;
      if (typeof e.stack === 'string') {
        const stack = scrub(e.stack);
        if (stack !== e.stack) e.stack = stack;
      }
    } catch {
      // a frozen error: nothing to do about it here
    }
    current = e.cause;
  }
  return error;
}

/** A logger that scrubs every line before `logger` sees it. */
export function scrubbingLogger(
  logger: DiagnosticLogger,
  scrub: (text: string) => string,
): DiagnosticLogger {
  return {
    warn: (message) => logger.warn(scrub(message)),
  };
}
