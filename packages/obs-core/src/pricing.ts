/**
 * Priced usage: when a step reports a model and tokens but no cost, the cost comes from a
 * maintained price table (`@pydantic/genai-prices`, bundled data, no network). Caller-supplied
 * costs always win. A model's per-token rates are resolved once (a table lookup costs ~20 us)
 * and cached, so pricing a step on the hot path is a map lookup and a few multiplications.
 *
 * Rates are the table's current ones, per million tokens: uncached input, cache reads, cache
 * writes (Anthropic's one-hour cache writes at their own rate) and output (reasoning tokens
 * are billed as output, as the providers do). Tiered prices (by context length) use the first
 * tier. Each provider's native usage shape is read as the table's own extractors read it
 * (see {@link normalizeUsage}): Anthropic's `input_tokens` leave out the cache tokens reported
 * beside them, OpenAI's `prompt_tokens` include the `cached_tokens` reported within.
 */
import { createRequire } from 'node:module';
import { assignOwn } from './payload.js';
import { isOwnUsageShape, normalizeUsage } from './usage.js';

/** A model's rates in US dollars per token. */
export interface ModelRates {
  model: string;
  provider: string;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  /** Cache writes kept for an hour (Anthropic's `ephemeral_1h_input_tokens`). */
  cacheWrite1h: number;
}

type CalcPrice = (
  usage: Record<string, number>,
  modelId: string,
  options?: { providerId?: string },
) => { total_price: number; provider: { id: string }; model: { id: string } } | null;

let calcPrice: CalcPrice | null | undefined;

function table(): CalcPrice | null {
  if (calcPrice === undefined) {
    try {
      const require = createRequire(import.meta.url);
      calcPrice = (require('@pydantic/genai-prices') as { calcPrice: CalcPrice }).calcPrice;
    } catch {
      calcPrice = null;
    }
  }
  return calcPrice;
}

/** Loads the price table now (it is otherwise loaded by the first step that needs it). */
export function preloadPrices(): boolean {
  return table() !== null;
}

const rateCache = new Map<string, ModelRates | null>();
const MAX_CACHED_MODELS = 1024;
const MILLION = 1_000_000;

/** The per-token rates of a model, or `null` when the table does not know it. */
export function modelRates(model: string, provider?: string): ModelRates | null {
  const key = provider ? `${provider}\u0000${model}` : model;
  const cached = rateCache.get(key);
  if (cached !== undefined) return cached;
  let rates: ModelRates | null = null;
  const calc = table();
  if (calc) {
    const options = provider ? { providerId: provider } : {};
    const price = (usage: Record<string, number>) => {
      try {
        return calc(usage, model, options) ?? (provider ? calc(usage, model) : null);
      } catch {
        return null;
      }
    };
    const input = price({ input_tokens: MILLION });
    if (input) {
      const output = price({ output_tokens: MILLION });
      const cacheRead = price({ input_tokens: MILLION, cache_read_tokens: MILLION });
      const cacheWrite = price({ input_tokens: MILLION, cache_write_tokens: MILLION });
      const cacheWrite1h = price({
        input_tokens: MILLION,
        cache_write_tokens: MILLION,
        cache_write_1h_tokens: MILLION,
      });
      rates = {
        model: input.model.id,
        provider: input.provider.id,
        input: input.total_price / MILLION,
        output: (output?.total_price ?? 0) / MILLION,
        cacheRead: (cacheRead?.total_price ?? input.total_price) / MILLION,
        cacheWrite: (cacheWrite?.total_price ?? input.total_price) / MILLION,
        cacheWrite1h:
          (cacheWrite1h?.total_price ?? cacheWrite?.total_price ?? input.total_price) / MILLION,
      };
    }
  }
  if (rateCache.size >= MAX_CACHED_MODELS) rateCache.clear();
  rateCache.set(key, rates);
  return rates;
}

/**
 * The price of token counts at a model's rates (input includes cached tokens; `write1h`: of
 * the cache writes, those kept for an hour).
 */
function cost(
  rates: ModelRates,
  inputTokens: number,
  outputTokens: number,
  cacheReadTokens: number,
  cacheWriteTokens: number,
  reasoningTokens: number,
  write1h = 0,
): number {
  const cached = Math.min(inputTokens, cacheReadTokens + cacheWriteTokens);
  const cacheRead = Math.min(cacheReadTokens, inputTokens);
  const cacheWrite = cached - cacheRead;
  const cacheWrite1h = Math.min(write1h, cacheWrite);
  // Reasoning tokens are part of output tokens where a provider reports both.
  const output = Math.max(outputTokens, reasoningTokens);
  const usd =
    (inputTokens - cached) * rates.input +
    cacheRead * rates.cacheRead +
    (cacheWrite - cacheWrite1h) * rates.cacheWrite +
    cacheWrite1h * rates.cacheWrite1h +
    output * rates.output;
  return Math.round(usd * 1e10) / 1e10;
}

/** Anthropic's cache writes kept for an hour (`cache_creation.ephemeral_1h_input_tokens`). */
function oneHourWrites(usage: Record<string, unknown>): number {
  const creation = usage.cache_creation;
  if (typeof creation !== 'object' || creation === null) return 0;
  const n = (creation as Record<string, unknown>).ephemeral_1h_input_tokens;
  return typeof n === 'number' && n > 0 && n < Number.POSITIVE_INFINITY ? n : 0;
}

/**
 * The cost of one usage record in US dollars from the price table, or `undefined` when it has
 * no model, no tokens, or a model the table does not know. In the run API's own shape input
 * tokens include cached ones; provider-native shapes (Anthropic's, OpenAI's, Gemini's, ...)
 * are read as they are meant (see {@link normalizeUsage}).
 *
 * @example
 * ```ts
 * priceUsage({ model: 'gpt-4.1-mini', inputTokens: 1000, outputTokens: 200 }); // 0.00072
 * ```
 */
export function priceUsage(usage: Record<string, unknown>): number | undefined {
  const u = normalizeUsage(usage);
  if (!u.model || u.inputTokens + u.outputTokens + u.reasoningTokens === 0) return undefined;
  const rates = modelRates(u.model, u.provider);
  if (!rates) return undefined;
  return cost(
    rates,
    u.inputTokens,
    u.outputTokens,
    u.cacheReadTokens,
    u.cacheWriteTokens,
    u.reasoningTokens,
    oneHourWrites(usage),
  );
}

const count = (value: unknown): number =>
  typeof value === 'number' && value > 0 && value < Number.POSITIVE_INFINITY ? value : 0;

/** The hot path: our own field names (what the run API documents), no allocation. */
function priceOwnFields(usage: Record<string, unknown>): number | undefined {
  const model = usage.model;
  if (typeof model !== 'string' || model.length === 0) return undefined;
  const provider = usage.provider;
  const rates = modelRates(model, typeof provider === 'string' ? provider : undefined);
  if (!rates) return undefined;
  const input = count(usage.inputTokens);
  const output = count(usage.outputTokens);
  const reasoning = count(usage.reasoningTokens);
  if (input + output + reasoning === 0) return undefined;
  return cost(
    rates,
    input,
    output,
    count(usage.cacheReadTokens) || count(usage.cachedInputTokens),
    count(usage.cacheWriteTokens),
    reasoning,
  );
}

const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

function hasCallerCost(usage: Record<string, unknown>): boolean {
  return (
    finite(usage.costUsd) ||
    finite(usage.cost_usd) ||
    finite(usage.cost) ||
    finite(usage.total_cost)
  );
}

/**
 * Fills in `costUsd` on a step event's usage records that have none. Mutates `event` — the
 * coordinator calls it on its own sanitized copy.
 */
export function priceStepUsage(event: Record<string, unknown>): void {
  const usage = event.usage;
  if (typeof usage !== 'object' || usage === null) return;
  if (!Array.isArray(usage)) {
    const priced = priceRecord(usage as Record<string, unknown>);
    if (priced) event.usage = priced;
    return;
  }
  for (let i = 0; i < usage.length; i++) {
    const item: unknown = usage[i];
    if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      const priced = priceRecord(item as Record<string, unknown>);
      if (priced) usage[i] = priced;
    }
  }
}

/**
 * The record with `costUsd` added, or undefined when it keeps its own cost or
 * cannot be priced. A new object filled by `assignOwn`: adding a key to the sanitizer's spread
 * clone would take V8's slow path.
 */
function priceRecord(record: Record<string, unknown>): Record<string, unknown> | undefined {
  if (hasCallerCost(record)) return undefined;
  const usd = isOwnUsageShape(record) ? priceOwnFields(record) : priceUsage(record);
  if (usd === undefined) return undefined;
  const out = assignOwn({}, record);
  out.costUsd = usd;
  return out;
}
