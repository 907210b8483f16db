export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens the upstream served from its prompt cache (part of inputTokens). */
  cachedInputTokens: number;
  /** Output tokens spent on hidden reasoning (part of outputTokens). */
  reasoningTokens: number;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** A `*_tokens_details` count, 0 when absent or malformed, never more than the total it is part of. */
function detail(details: unknown, field: string, total: number): number {
  if (!details || typeof details !== 'object') return 0;
  return Math.min(total, count((details as Record<string, unknown>)[field]) ?? 0);
}

function usageObject(body: unknown): Record<string, unknown> | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const usage = (body as { usage?: unknown }).usage;
  return usage && typeof usage === 'object' ? (usage as Record<string, unknown>) : undefined;
}

/** Token counts from an OpenAI chat-shaped `usage` object, or undefined when it is absent or malformed. */
export function usageFrom(body: unknown): TokenUsage | undefined {
  const u = usageObject(body);
  if (!u) return undefined;
  const input = count(u.prompt_tokens);
  if (input === undefined) return undefined;
  const output = count(u.completion_tokens) ?? Math.max(0, (count(u.total_tokens) ?? input) - input);
  return {
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: detail(u.prompt_tokens_details, 'cached_tokens', input),
    reasoningTokens: detail(u.completion_tokens_details, 'reasoning_tokens', output),
  };
}

/** Token counts from a Response's `usage` object, or undefined when it is absent or malformed. */
export function responsesUsageFrom(body: unknown): TokenUsage | undefined {
  const u = usageObject(body);
  if (!u) return undefined;
  const input = count(u.input_tokens);
  const output = count(u.output_tokens);
  if (input === undefined || output === undefined) return undefined;
  return {
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: detail(u.input_tokens_details, 'cached_tokens', input),
    reasoningTokens: detail(u.output_tokens_details, 'reasoning_tokens', output),
  };
}

/** Usage counted by Switchyard's tokenizer: it cannot know what the upstream cached or spent reasoning. */
export function countedUsage(inputTokens: number, outputTokens: number): TokenUsage {
  return { inputTokens, outputTokens, cachedInputTokens: 0, reasoningTokens: 0 };
}
