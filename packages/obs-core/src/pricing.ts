/**
 * Priced usage: when a step reports a model and tokens but no cost, the cost comes from a
 * maintained price table (`@pydantic/genai-prices`, bundled data, no network). Caller-supplied
 * costs always win. A model's per-token rates are resolved once (a table lookup costs ~20 us)
 * and cached, so pricing a step on the hot path is a map lookup and a few multiplications.
 *
 * Rates are the table's current ones, per million tokens: uncached input, cache reads, cache
 * writes and output (reasoning tokens are billed as output, as the providers do). Tiered
 * prices (by context length) use the first tier.
 */
import { createRequire } from 'node:module';
import { normalizeUsage } from './usage.js';

/** A model's rates in US dollars per token. */
export interface ModelRates {
  model: string;
  provider: string;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
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
  const key = `${provider ?? ''}\u0000${model}`;
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
      rates = {
        model: input.model.id,
        provider: input.provider.id,
        input: input.total_price / MILLION,
        output: (output?.total_price ?? 0) / MILLION,
        cacheRead: (cacheRead?.total_price ?? input.total_price) / MILLION,
        cacheWrite: (cacheWrite?.total_price ?? input.total_price) / MILLION,
      };
    }
  }
  if (rateCache.size >= MAX_CACHED_MODELS) rateCache.clear();
  rateCache.set(key, rates);
  return rates;
}

/**
 * The cost of one usage record in US dollars from the price table, or `undefined` when it has
 * no model, no tokens, or a model the table does not know. Input tokens include cached ones.
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
  const cached = Math.min(u.inputTokens, u.cacheReadTokens + u.cacheWriteTokens);
  const uncached = u.inputTokens - cached;
  const cacheRead = Math.min(u.cacheReadTokens, u.inputTokens);
  const cacheWrite = cached - cacheRead;
  // Reasoning tokens are part of output tokens where a provider reports both.
  const output = Math.max(u.outputTokens, u.reasoningTokens);
  const cost =
    uncached * rates.input +
    cacheRead * rates.cacheRead +
    cacheWrite * rates.cacheWrite +
    output * rates.output;
  return Math.round(cost * 1e10) / 1e10;
}

function hasCallerCost(usage: Record<string, unknown>): boolean {
  for (const key of ['costUsd', 'cost_usd', 'cost', 'total_cost']) {
    const v = usage[key];
    if (typeof v === 'number' && Number.isFinite(v)) return true;
  }
  return false;
}

/**
 * Fills in `costUsd` (and `costSource: 'price-table'`) on a step event's usage records that
 * have none. Mutates `event` — the coordinator calls it on its own sanitized copy.
 */
export function priceStepUsage(event: Record<string, unknown>): void {
  const usage = event.usage;
  if (usage === undefined || usage === null) return;
  const list = Array.isArray(usage) ? usage : [usage];
  for (const item of list) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
    const record = item as Record<string, unknown>;
    if (hasCallerCost(record)) continue;
    const cost = priceUsage(record);
    if (cost !== undefined) {
      record.costUsd = cost;
      record.costSource = 'price-table';
    }
  }
}
