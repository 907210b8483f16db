import { describe, expect, it } from 'vitest';
import { responsesUsageFrom, usageFrom } from '../../shared/usage/extract-usage.js';

describe('usageFrom (chat completions)', () => {
  it('reads cached input and reasoning tokens from the details', () => {
    const body = {
      usage: {
        prompt_tokens: 120,
        completion_tokens: 45,
        total_tokens: 165,
        prompt_tokens_details: { cached_tokens: 64, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 30, audio_tokens: 0 },
      },
    };
    expect(usageFrom(body)).toEqual({ inputTokens: 120, outputTokens: 45, cachedInputTokens: 64, reasoningTokens: 30 });
  });

  it('counts absent, null or malformed details as 0', () => {
    expect(usageFrom({ usage: { prompt_tokens: 5, completion_tokens: 2 } })).toEqual({
      inputTokens: 5,
      outputTokens: 2,
      cachedInputTokens: 0,
      reasoningTokens: 0,
    });
    expect(
      usageFrom({ usage: { prompt_tokens: 5, completion_tokens: 2, prompt_tokens_details: null, completion_tokens_details: {} } }),
    ).toMatchObject({ cachedInputTokens: 0, reasoningTokens: 0 });
    expect(
      usageFrom({
        usage: { prompt_tokens: 5, completion_tokens: 2, prompt_tokens_details: { cached_tokens: -1 }, completion_tokens_details: 'x' },
      }),
    ).toMatchObject({ cachedInputTokens: 0, reasoningTokens: 0 });
  });

  it('never reports more cached tokens than input tokens, nor more reasoning tokens than output tokens', () => {
    const body = {
      usage: {
        prompt_tokens: 5,
        completion_tokens: 2,
        prompt_tokens_details: { cached_tokens: 9 },
        completion_tokens_details: { reasoning_tokens: 7 },
      },
    };
    expect(usageFrom(body)).toMatchObject({ cachedInputTokens: 5, reasoningTokens: 2 });
  });

  it('reads the usage chunk of a stream the same way', () => {
    const chunk = {
      object: 'chat.completion.chunk',
      choices: [],
      usage: {
        prompt_tokens: 10,
        completion_tokens: 8,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 3 },
      },
    };
    expect(usageFrom(chunk)).toEqual({ inputTokens: 10, outputTokens: 8, cachedInputTokens: 4, reasoningTokens: 3 });
  });
});

describe('responsesUsageFrom (Responses)', () => {
  it('reads cached input and reasoning tokens from the details', () => {
    const response = {
      usage: {
        input_tokens: 200,
        input_tokens_details: { cached_tokens: 128 },
        output_tokens: 70,
        output_tokens_details: { reasoning_tokens: 50 },
        total_tokens: 270,
      },
    };
    expect(responsesUsageFrom(response)).toEqual({ inputTokens: 200, outputTokens: 70, cachedInputTokens: 128, reasoningTokens: 50 });
  });

  it('counts absent details as 0', () => {
    expect(responsesUsageFrom({ usage: { input_tokens: 9, output_tokens: 2, total_tokens: 11 } })).toEqual({
      inputTokens: 9,
      outputTokens: 2,
      cachedInputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it('is undefined when the usage is absent or has no counts', () => {
    expect(responsesUsageFrom({ id: 'resp_1' })).toBeUndefined();
    expect(responsesUsageFrom({ usage: null })).toBeUndefined();
    expect(responsesUsageFrom({ usage: { output_tokens: 2 } })).toBeUndefined();
  });
});
