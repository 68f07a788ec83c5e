/** OTLP `AnyValue` / `KeyValue` decoding shared by the test receivers (JSON and protobuf). */

/** An OTLP `AnyValue` as a plain value (int64s as numbers, arrays element by element). */
export function anyValue(v: Record<string, unknown> | undefined): unknown {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v)
    return ((v.arrayValue as { values?: Array<Record<string, unknown>> }).values ?? []).map(
      anyValue,
    );
  return undefined;
}

/** An OTLP attribute list as a record. */
export function otlpAttributes(
  list: Array<{ key: string; value: Record<string, unknown> }> | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}
