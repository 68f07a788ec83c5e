/**
 * A sink's content limits: how many characters of each text it sends (the seeds' 200/500/
 * 1000), configurable through its `limits` option. One reading for every sink: the given
 * values over the defaults, or what is wrong (a sink given an unusable limit says so in its
 * status, as the config's schema does at load).
 */
import { describeValue, type OptionsShape } from './config/options-schema.js';

/** Limits by the text they cut: characters, whole numbers > 0. */
export type ContentLimits<K extends string> = Readonly<Record<K, number>>;

/**
 * `given` over `defaults`, or the first problem, naming the key (`limits.code must be a whole
 * number > 0 (got 0)`). `undefined` keys keep their default.
 *
 * @example
 * ```ts
 * const read = readContentLimits({ task: 500, error: 200 }, options.limits);
 * if ('problem' in read) detail = `unavailable: ${read.problem}`;
 * else limits = read.limits;
 * ```
 */
export function readContentLimits<K extends string>(
  defaults: ContentLimits<K>,
  given: unknown,
): { limits: Record<K, number> } | { problem: string } {
  const limits = { ...defaults } as Record<K, number>;
  if (given === undefined) return { limits };
  const known = Object.keys(defaults);
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    return {
      problem: `limits must be an object with ${known.join(', ')} (got ${describeValue(given)})`,
    };
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(defaults, key))
      return { problem: `unknown limit '${key}' (known: ${known.join(', ')})` };
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0)
      return { problem: `limits.${key} must be a whole number > 0 (got ${describeValue(value)})` };
    limits[key as K] = value;
  }
  return { limits };
}

/**
 * The `limits` option of a sink's `defineOptionsSchema`: each key of `defaults`, a whole
 * number > 0. `{ limits: contentLimitsOptions(DEFAULT_LIMITS) }`.
 */
export function contentLimitsOptions<K extends string>(defaults: ContentLimits<K>): OptionsShape {
  return Object.fromEntries(
    Object.keys(defaults).map((key) => [key, 'positiveCount']),
  ) as OptionsShape;
}
