/**
 * A small Standard Schema for a sink's options, for sink packages that do not want a
 * validation library: every known option with the kinds of value it takes. Unknown options
 * (`directory` for `dir`) and wrong types (`maxAgeDays: '7'`) become config errors that name
 * the key and the fix, instead of being ignored.
 */
import type { AuthCooldownOptions } from '../auth-cooldown.js';
import { suggest } from './config-error.js';
import type { StandardSchemaResult, StandardSchemaV1 } from './types.js';

/** The kinds of value an option takes. */
export type OptionKind =
  | 'string'
  /** A string that is not empty. */
  | 'nonEmptyString'
  /** A finite number. */
  | 'number'
  /** A number > 0 (`Infinity` allowed). */
  | 'positiveNumber'
  /** A finite number > 0 (a timeout or an interval: `Infinity` would break a timer). */
  | 'finitePositiveNumber'
  /** A number >= 0 (`Infinity` allowed). */
  | 'nonNegativeNumber'
  /** A whole number >= 0. */
  | 'count'
  /** A whole number > 0 (a content limit, a size). */
  | 'positiveCount'
  | 'boolean'
  /** A plain object (any keys). */
  | 'object'
  /** An object whose values are strings (headers). */
  | 'stringRecord'
  | 'stringArray'
  | 'array'
  | 'function'
  /** Anything but `null` (objects from a `.mjs` config: clients, providers). */
  | 'any';

/**
 * One option: a kind, several kinds (any of them), a nested object's own options, or a check
 * that returns a message (`'must be http or https'`) when the value is wrong.
 */
export type OptionSpec =
  | OptionKind
  | readonly OptionKind[]
  | ((value: unknown) => string | undefined)
  | OptionsShape;

/** The options of a sink: name → what it takes. Every option is optional. */
export interface OptionsShape {
  readonly [option: string]: OptionSpec;
}

type Issue = { message: string; path: PropertyKey[] };

/**
 * The options of core's `AuthCooldown` (a sink's `authCooldown` option), for a sink's
 * {@link defineOptionsSchema}: `{ authCooldown: AUTH_COOLDOWN_OPTIONS }`.
 */
export const AUTH_COOLDOWN_OPTIONS = {
  initialMs: 'nonNegativeNumber',
  maxMs: 'nonNegativeNumber',
  jitter: 'nonNegativeNumber',
  now: 'function',
  random: 'function',
} as const satisfies Record<keyof AuthCooldownOptions, OptionSpec>;

const DESCRIBE: Record<OptionKind, string> = {
  string: 'a string',
  nonEmptyString: 'a non-empty string',
  number: 'a number',
  positiveNumber: 'a number > 0',
  finitePositiveNumber: 'a finite number > 0',
  nonNegativeNumber: 'a number >= 0',
  count: 'a whole number >= 0',
  positiveCount: 'a whole number > 0',
  boolean: 'true or false',
  object: 'an object',
  stringRecord: 'an object of strings',
  stringArray: 'a list of strings',
  array: 'a list',
  function: 'a function',
  any: 'a value',
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function matches(kind: OptionKind, value: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'nonEmptyString':
      return typeof value === 'string' && value.trim() !== '';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'positiveNumber':
      return typeof value === 'number' && value > 0;
    case 'finitePositiveNumber':
      return typeof value === 'number' && Number.isFinite(value) && value > 0;
    case 'nonNegativeNumber':
      return typeof value === 'number' && value >= 0;
    case 'count':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0;
    case 'positiveCount':
      return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isPlainObject(value);
    case 'stringRecord':
      return isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string');
    case 'stringArray':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'array':
      return Array.isArray(value);
    case 'function':
      return typeof value === 'function';
    case 'any':
      return value !== null;
  }
}

/**
 * A value as an error message shows it: its kind for strings, lists, objects and functions
 * (a string may be a secret), the value itself for numbers, booleans and `null`.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}

function check(shape: OptionsShape, value: Record<string, unknown>, at: PropertyKey[]): Issue[] {
  const issues: Issue[] = [];
  const known = Object.keys(shape);
  for (const [key, v] of Object.entries(value)) {
    const path = [...at, key];
    const spec = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (spec === undefined) {
      const hint = suggest(key, known);
      issues.push({
        message: `unknown option '${key}'${hint ? `; did you mean '${hint}'?` : '.'} Known options: ${known.join(', ')}`,
        path,
      });
      continue;
    }
    if (v === undefined) continue;
    if (typeof spec === 'function') {
      const message = spec(v);
      if (message) issues.push({ message, path });
    } else if (typeof spec === 'string' || Array.isArray(spec)) {
      const kinds = (typeof spec === 'string' ? [spec] : spec) as readonly OptionKind[];
      if (!kinds.some((kind) => matches(kind, v)))
        issues.push({
          message: `must be ${kinds.map((kind) => DESCRIBE[kind]).join(' or ')} (got ${describeValue(v)})`,
          path,
        });
    } else if (!isPlainObject(v)) {
      issues.push({
        message: `must be an object with ${Object.keys(spec).join(', ')} (got ${describeValue(v)})`,
        path,
      });
    } else issues.push(...check(spec as OptionsShape, v, path));
  }
  return issues;
}

/**
 * A Standard Schema (https://standardschema.dev) for a sink's options, to export as
 * `optionsSchema` from a sink package: the config loader then reports unknown options and
 * wrong types with the key (`sinks[0].options.retention.maxAgeDays`). Values pass through
 * unchanged.
 *
 * @example
 * ```ts
 * export const optionsSchema = defineOptionsSchema({
 *   url: 'nonEmptyString',
 *   timeoutMs: 'positiveNumber',
 *   headers: 'stringRecord',
 *   retry: { attempts: 'count' },
 * });
 * ```
 */
export function defineOptionsSchema<Options = Record<string, unknown>>(
  shape: OptionsShape,
  vendor = 'rlm-obs',
): StandardSchemaV1<unknown, Options> {
  return {
    '~standard': {
      version: 1,
      vendor,
      validate(value: unknown): StandardSchemaResult<Options> {
        if (value === undefined) return { value: {} as Options };
        if (!isPlainObject(value))
          return {
            issues: [{ message: `options must be an object (got ${describeValue(value)})` }],
          };
        const issues = check(shape, value, []);
        return issues.length > 0 ? { issues } : { value: value as Options };
      },
    },
  };
}
