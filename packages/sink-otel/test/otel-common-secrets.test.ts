/** otel-common's helpers that keep the OTLP sinks' credentials out of what they show. */
import { grpcHeadersProblem, secretScrubber } from '@rlm/otel-common';
import { describe, expect, it } from 'vitest';

describe('the shared helpers (otel-common)', () => {
  it('grpcHeadersProblem names the header, never its value', () => {
    expect(grpcHeadersProblem({ 'x-ok': 'fine value' })).toBeUndefined();
    const problem = grpcHeadersProblem({ 'x-ok': 'fine', 'X-Team': 'abc-SECRET\r' });
    expect(problem).toBe(
      "header 'x-team' has a value gRPC metadata cannot carry (illegal characters)",
    );
    expect(grpcHeadersProblem({ 'bad key': 'v' })).not.toContain('bad key');
  });

  it('secretScrubber masks header values in any form, URL credentials and bearer tokens', () => {
    const scrub = secretScrubber({
      headers: { authorization: 'Bearer tok-SECRET-0001', 'x-team': 'team-SECRET\n' },
      secrets: ['pylf_v1_us_SECRET'],
      urls: ['http://u:p%40ss-SECRET@host:4318'],
      env: { OTEL_EXPORTER_OTLP_HEADERS: 'x-env=env-SECRET-777' },
    });
    const text = scrub(
      new Error(
        'Metadata string value "team-SECRET\n" contains illegal characters; tok-SECRET-0001; ' +
          '"team-SECRET\\n"; pylf_v1_us_SECRET; http://u:p%40ss-SECRET@host:4318/v1/traces; ' +
          'p@ss-SECRET; env-SECRET-777',
      ),
    );
    expect(text).not.toContain('SECRET');
    expect(text).toContain('contains illegal characters');
    expect(scrub('nothing to hide')).toBe('nothing to hide');
  });
});
