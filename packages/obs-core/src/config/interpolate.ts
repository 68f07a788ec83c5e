/**
 * `${ENV_VAR}` interpolation, so secrets stay out of config files. `${NAME:-fallback}` gives a
 * default; `$${` writes a literal `${`. A variable that is not set and has no default is an
 * error that names the key.
 */
import { isSinkLike } from '../coordinator.js';
import { RlmObsConfigError } from './config-error.js';

const PATTERN = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function isPlainData(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  // A sink written as an object literal is used as it is, never copied.
  return (proto === Object.prototype || proto === null) && !isSinkLike(value);
}

/**
 * Replaces `${VAR}` in every string of plain config data (objects and arrays). Functions and
 * objects that are not plain data (imported sinks) are left as they are.
 */
export function interpolateEnv<T>(
  value: T,
  env: Record<string, string | undefined>,
  file?: string,
  key = '',
): T {
  if (typeof value === 'string') {
    return value.replace(
      PATTERN,
      (match, escaped: string, name: string, fallback: string | undefined) => {
        if (escaped) return match.slice(1);
        const found = env[name];
        if (found !== undefined && found !== '') return found;
        if (fallback !== undefined) return fallback;
        throw new RlmObsConfigError(
          `environment variable ${name} is not set; set it, or write \${${name}:-default} for a default`,
          { file, key: key || undefined },
        );
      },
    ) as T;
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => interpolateEnv(item, env, file, `${key}[${i}]`)) as T;
  }
  if (isPlainData(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = interpolateEnv(v, env, file, key ? `${key}.${k}` : k);
    return out as T;
  }
  return value;
}
