/**
 * Redaction of secrets before any sink sees data (DESIGN.md section 4, item 6).
 *
 * Keys are matched by words, not by substring, so `input_tokens` and `max_tokens` (usage
 * counts every agent reports) stay visible while `accessToken`, `api_key` and
 * `Authorization` are masked. Numbers and booleans under a secret-looking key are kept:
 * they are counts and flags, not credentials.
 */

/** Options of {@link createRedactor}. */
export interface RedactOptions {
  /**
   * Extra keys to mask. A string matches a key case-insensitively, ignoring `_`, `-` and
   * camelCase (so `'customer_email'` also masks `customerEmail`); a RegExp is tested on the
   * raw key.
   * @defaultValue `[]`
   */
  keys?: Array<string | RegExp>;
  /**
   * Extra patterns masked inside every string value (for example a vendor's key prefix). A
   * string is the source of a regular expression (config files cannot hold a RegExp):
   * `'sk-[A-Za-z0-9]{20,}'`.
   * @defaultValue `[]`
   */
  patterns?: Array<RegExp | string>;
  /**
   * Mask credentials in URLs (`https://user:pass@host`), secret query parameters and
   * `Bearer`/`Basic` credentials inside strings.
   * @defaultValue `true`
   */
  urlCredentials?: boolean;
  /**
   * Keep the built-in key words (password, secret, token, api key, authorization, ...).
   * @defaultValue `true`
   */
  defaultKeys?: boolean;
  /**
   * The text that replaces a secret. It never contains any part of the secret.
   * @defaultValue `'[REDACTED]'`
   */
  marker?: string;
  /**
   * Environment whose secret-looking variables (`*_TOKEN`, `*_SECRET_KEY`, `*_API_KEY`, ...)
   * are scrubbed from warnings and status details even if a backend echoes them.
   * @defaultValue `process.env`
   */
  env?: Record<string, string | undefined>;
}

/** Masks secrets in keys, strings and diagnostic texts. */
export interface Redactor {
  readonly marker: string;
  /** Whether the value under this key must be masked. */
  isSecretKey(key: string): boolean;
  /** Masks URL credentials, bearer tokens and configured patterns inside a string. */
  redactString(value: string): string;
  /** Remembers a secret value so that {@link Redactor.scrub} removes it from texts. */
  remember(secret: string): void;
  /** Removes every known secret and every URL credential from a diagnostic text. */
  scrub(text: string): string;
}

const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'secrets',
  'token',
  'apikey',
  'authorization',
  'auth',
  'credential',
  'credentials',
  'cookie',
  'cookies',
  'bearer',
  'privatekey',
  'accesskey',
  'secretkey',
  'clientsecret',
  'sessiontoken',
  'jwt',
]);

/** Adjacent word pairs that name a secret only together (`api_key`, `private-key`). */
const SECRET_PAIRS = new Set(['api key', 'private key', 'access key', 'secret key', 'signing key']);
/**
 * Endings of a word written without separators that still name a secret: `accesstoken`,
 * `refreshtoken`, `xapikey`, `awssecretkey`. A singular `token` only, so the usage counts
 * `tokens`, `maxtokens` and `totaltokens` stay visible.
 */
const SECRET_ENDING =
  /(?:token|secret|password|passwd|passphrase|apikey|accesskey|secretkey|privatekey|signingkey)$/;

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]+)@/gi;
/** Query parameters (`?name=value`, `&name=value`) whose value is a credential. */
const SECRET_QUERY =
  /([?&](?:x-amz-(?:security-token|signature|credential)|x-goog-(?:signature|credential)|(?:api|access|auth|private|refresh|id|session|security)[_-]?token|token|api[_-]?key|apikey|(?:access|secret|private)[_-]?key|key|secret|client[_-]?secret|password|passwd|pwd|sig|signature|auth)=)[^&#\s"']+/gi;
// A credential has a digit or a base64 sign, or is a run of 20+ letters; so prose like
// "a basic approach" or "Bearer token" is left alone.
const AUTH_SCHEME =
  /\b(Bearer|Basic)\s+(?:(?=[A-Za-z0-9._~+/=-]*[0-9+/=])[A-Za-z0-9._~+/=-]{8,}|[A-Za-z]{20}[A-Za-z0-9._~+/=-]*)/gi;
/** One scan that rules out almost every string before the precise patterns run. */
const MAYBE_CREDENTIALS = /:\/\/|bearer\s|basic\s/i;
const SECRET_ENV_NAME =
  /(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|SECRET_KEY|PRIVATE_KEY|ACCESS_KEY|CREDENTIALS?)$/i;

const MAX_CACHED_KEYS = 4096;
const MAX_KNOWN_SECRETS = 512;
/** Shorter values are too common to scrub from free text without mangling it. */
const MIN_SCRUB_LENGTH = 6;

function splitWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
}

function squash(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function isDefaultSecretKey(key: string): boolean {
  const words = splitWords(key);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (SECRET_WORDS.has(word)) return true;
    if (i + 1 < words.length && SECRET_PAIRS.has(`${word} ${words[i + 1]}`)) return true;
    if (SECRET_ENDING.test(word)) return true;
  }
  return SECRET_WORDS.has(squash(key));
}

/**
 * Builds a redactor. Pass `false` to get one that masks nothing (`redact: false` in the
 * config really turns redaction off).
 *
 * @example
 * ```ts
 * const redactor = createRedactor({ keys: ['customer_email'] });
 * redactor.isSecretKey('apiKey'); // true
 * redactor.redactString('https://bob:hunter2@db.local'); // 'https://[REDACTED]@db.local'
 * ```
 */
export function createRedactor(options: RedactOptions | false = {}): Redactor {
  if (options === false) return NO_REDACTION;
  const marker = options.marker ?? '[REDACTED]';
  const useDefaults = options.defaultKeys !== false;
  const urlCredentials = options.urlCredentials !== false;
  const extraNames = new Set<string>();
  const extraRegexps: RegExp[] = [];
  for (const key of options.keys ?? []) {
    if (typeof key === 'string') extraNames.add(squash(key));
    else if (key instanceof RegExp)
      extraRegexps.push(new RegExp(key.source, key.flags.replace('g', '')));
  }
  const patterns = (options.patterns ?? []).map((p) =>
    typeof p === 'string'
      ? new RegExp(p, 'g')
      : new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`),
  );
  const cache = new Map<string, boolean>();
  const known = new Set<string>();

  const remember = (secret: string): void => {
    if (typeof secret !== 'string' || secret.length < MIN_SCRUB_LENGTH) return;
    if (known.size >= MAX_KNOWN_SECRETS) return;
    // Only the first 4 KiB of a huge value: enough to find it in an error message.
    known.add(secret.length > 4096 ? secret.slice(0, 4096) : secret);
  };

  const env = options.env ?? (typeof process !== 'undefined' ? process.env : {});
  for (const name of Object.keys(env)) {
    const value = env[name];
    if (value && SECRET_ENV_NAME.test(name)) remember(value);
  }

  const isSecretKey = (key: string): boolean => {
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    let secret = (useDefaults && isDefaultSecretKey(key)) || extraNames.has(squash(key));
    if (!secret) {
      for (const re of extraRegexps) {
        if (re.test(key)) {
          secret = true;
          break;
        }
      }
    }
    if (cache.size < MAX_CACHED_KEYS) cache.set(key, secret);
    return secret;
  };

  const redactString = (value: string): string => {
    let out = value;
    if (urlCredentials && out.length >= 8 && MAYBE_CREDENTIALS.test(out)) {
      if (out.includes('://')) {
        out = out.replace(URL_CREDENTIALS, (_m, scheme: string, credentials: string) => {
          remember(credentials);
          const colon = credentials.indexOf(':');
          if (colon > 0) remember(credentials.slice(colon + 1));
          return `${scheme}${marker}@`;
        });
        // Query parameters only in strings with a URL: a check of every string for `=`
        // and `?`/`&` would cost ~10% of the sanitizing pass of a typical step event.
        if (out.includes('=')) {
          out = out.replace(SECRET_QUERY, (match: string, prefix: string) => {
            remember(match.slice(prefix.length));
            return `${prefix}${marker}`;
          });
        }
      }
      out = out.replace(AUTH_SCHEME, (match: string, scheme: string) => {
        remember(match.slice(scheme.length).trim());
        return `${scheme} ${marker}`;
      });
    }
    for (const pattern of patterns) {
      pattern.lastIndex = 0;
      out = out.replace(pattern, (match: string) => {
        remember(match);
        return marker;
      });
    }
    return out;
  };

  const scrub = (text: string): string => {
    let out = redactString(String(text));
    for (const secret of known) {
      if (out.includes(secret)) out = out.split(secret).join(marker);
    }
    return out;
  };

  return { marker, isSecretKey, redactString, remember, scrub };
}

const NO_REDACTION: Redactor = {
  marker: '[REDACTED]',
  isSecretKey: () => false,
  redactString: (value) => value,
  remember: () => {},
  scrub: (text) => String(text),
};
