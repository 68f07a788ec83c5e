/** The bench's step event: ~370 bytes, the seed's shape (shared by run.mjs and all-sinks.mjs). */
export function makeEvent(step) {
  return {
    step,
    action: {
      action: 'run_python',
      code: 'import math\nvalues = [math.sqrt(i) for i in range(100)]\nprint(sum(values))',
      rationale: 'Sum the square roots to check the hypothesis.',
    },
    observation: { success: true, output: '661.4629471031477', error: '' },
    reward: 0.5,
    startedAt: 1763766000000 + step * 10,
    durationMs: 12.5,
    usage: { model: 'gpt-4.1-mini', inputTokens: 812, outputTokens: 64 },
  };
}
