export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** Token counts from an OpenAI-shaped `usage` object, or undefined when it is absent or malformed. */
export function usageFrom(body: unknown): TokenUsage | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const usage = (body as { usage?: unknown }).usage;
  if (!usage || typeof usage !== 'object') return undefined;
  const u = usage as Record<string, unknown>;
  const input = count(u.prompt_tokens);
  if (input === undefined) return undefined;
  const output = count(u.completion_tokens) ?? Math.max(0, (count(u.total_tokens) ?? input) - input);
  return { inputTokens: input, outputTokens: output };
}
