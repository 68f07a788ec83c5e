/**
 * @rlm/otel-common is installed by every OTLP sink (Logfire, Langfuse too), so it carries
 * only what they all need: no gRPC and no metrics stack — those are this sink's own
 * dependencies (Logfire takes OTLP/HTTP only). Checked on its package.json, on its built
 * dist/ and on what installing it brings (its dependencies, transitively, as installed).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const otelCommon = fileURLToPath(new URL('../../otel-common/', import.meta.url));
const sinkOtel = fileURLToPath(new URL('../', import.meta.url));

/** gRPC, and the metrics SDK and exporters. */
const HEAVY =
  /^(@grpc\/|grpc$|@opentelemetry\/(sdk-metrics|exporter-metrics-|exporter-\w+-otlp-grpc|otlp-grpc-))/;

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const manifest = (dir: string): Manifest =>
  JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));

const installed = (pkg: Manifest) =>
  Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies });

/** The module specifiers a built file imports (static, dynamic and `require`). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm,
  ))
    out.add(m[1]!);
  return [...out];
}

/** Every package installing `dir` brings (its dependencies, transitively, as resolved here). */
function closure(dir: string): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (at: string): void => {
    const pkg = manifest(at);
    const key = `${pkg.name}@${pkg.version}`;
    if (seen.has(key)) return;
    seen.set(key, at);
    const require = createRequire(path.join(at, 'package.json'));
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      let found: string | undefined;
      for (const base of require.resolve.paths(dep) ?? []) {
        const candidate = path.join(base, dep);
        if (fs.existsSync(path.join(candidate, 'package.json'))) {
          found = fs.realpathSync(candidate);
          break;
        }
      }
      if (found === undefined) throw new Error(`${dep} (a dependency of ${key}) is not installed`);
      walk(found);
    }
  };
  walk(fs.realpathSync(dir));
  return seen;
}

describe('@rlm/otel-common brings no gRPC and no metrics stack', () => {
  it('its package.json lists none of them', () => {
    expect(installed(manifest(otelCommon)).filter((name) => HEAVY.test(name))).toEqual([]);
  });

  it('its dist/ imports none of them', () => {
    const dist = path.join(otelCommon, 'dist');
    const files = fs.readdirSync(dist).filter((f) => /\.(js|d\.ts)$/.test(f));
    expect(files).toContain('index.js');
    const heavy = files.flatMap((f) =>
      importsOf(path.join(dist, f))
        .filter((s) => HEAVY.test(s))
        .map((s) => `${f}: ${s}`),
    );
    expect(heavy).toEqual([]);
  });

  it('installing it installs no gRPC and no metrics exporter', () => {
    const names = [...closure(otelCommon).keys()].map((k) => k.replace(/@[^@]+$/, ''));
    expect(names).toContain('@opentelemetry/exporter-trace-otlp-proto');
    // sdk-metrics itself still comes along: the OTLP protobuf serializer
    // (@opentelemetry/otlp-transformer) depends on it; gRPC and the metric exporters do not.
    expect(names.filter((n) => HEAVY.test(n) && n !== '@opentelemetry/sdk-metrics')).toEqual([]);
  });

  it('@rlm/sink-otel, which exports over gRPC and sends metrics, depends on them itself', () => {
    const deps = installed(manifest(sinkOtel));
    expect(deps).toEqual(
      expect.arrayContaining([
        '@grpc/grpc-js',
        '@opentelemetry/exporter-trace-otlp-grpc',
        '@opentelemetry/exporter-metrics-otlp-grpc',
        '@opentelemetry/exporter-metrics-otlp-proto',
        '@opentelemetry/sdk-metrics',
      ]),
    );
    const names = [...closure(sinkOtel).keys()].map((k) => k.replace(/@[^@]+$/, ''));
    expect(names).toContain('@grpc/grpc-js');
  });
});
