import { describe, expect, it } from 'vitest';
import { chatDemand, chatRequestSchema } from '../../shared/gateway/inference-request.js';
import fc from 'fast-check';
import { countChatPromptTokens, countTextTokens } from '../../shared/usage/count-tokens.js';

const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const demands = (body: Record<string, unknown>) => chatDemand(chatRequestSchema.parse({ messages, ...body }));
const demand = (body: Record<string, unknown>) => demands(body).counted();

describe('chatDemand', () => {
  it("is the counted prompt, the answer's cap and the number of answers", () => {
    expect(demand({ max_tokens: 100, n: 2 })).toEqual({ promptTokens: countChatPromptTokens(messages), maxOutputTokens: 100, choices: 2 });
    expect(demand({ max_completion_tokens: 7 })).toEqual({ promptTokens: countChatPromptTokens(messages), maxOutputTokens: 7, choices: 1 });
    expect(demand({})).toEqual({ promptTokens: countChatPromptTokens(messages), choices: 1 });
  });

  it('counts tool and response schemas as prompt', () => {
    const tools = [
      { type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ];
    const response_format = { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } };
    expect(demand({ tools, response_format }).promptTokens).toBe(
      countChatPromptTokens(messages) + countTextTokens(JSON.stringify([tools, response_format])),
    );
  });

  it('bounds the count from above without the tokenizer, whatever the text', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ role: fc.constantFrom('user', 'system', 'assistant'), content: fc.string({ unit: 'grapheme', maxLength: 300 }) }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
        (sent, cap) => {
          const body = chatRequestSchema.parse({ messages: sent, ...(cap ? { max_tokens: cap } : {}) });
          const { atMost, counted } = chatDemand(body);
          expect(atMost().promptTokens).toBeGreaterThanOrEqual(counted().promptTokens);
          expect({ ...atMost(), promptTokens: 0 }).toEqual({ ...counted(), promptTokens: 0 });
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });
});
