import { describe, expect, it } from 'vitest';
import { chatRequestFeatures } from '../../shared/routing/request-features.js';

const user = { role: 'user', content: 'hi' };
const tool = { type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: {} } } };
const image = { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } };

describe('chatRequestFeatures', () => {
  it.each([
    ['plain chat', {}, []],
    ['tools', { tools: [tool] }, [['tools', 'tools']]],
    ['tool_choice alone', { tool_choice: 'required' }, [['tools', 'tool_choice']]],
    ['tool_choice none', { tool_choice: 'none' }, []],
    ['an empty tools list', { tools: [] }, []],
    ['legacy functions', { functions: [tool.function] }, [['tools', 'functions']]],
    ['legacy function_call', { function_call: { name: 'weather' } }, [['tools', 'function_call']]],
    ['function_call none', { function_call: 'none' }, []],
    ['response_format json_object', { response_format: { type: 'json_object' } }, [['structured-output', 'response_format']]],
    [
      'response_format json_schema',
      { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } },
      [['structured-output', 'response_format']],
    ],
    ['response_format text', { response_format: { type: 'text' } }, []],
    ['logprobs', { logprobs: true }, [['logprobs', 'logprobs']]],
    ['logprobs false', { logprobs: false }, []],
    ['top_logprobs', { top_logprobs: 3 }, [['logprobs', 'top_logprobs']]],
    ['n 2', { n: 2 }, [['multiple-choices', 'n']]],
    ['n 1', { n: 1 }, []],
    ['n null', { n: null }, []],
    ['reasoning_effort', { reasoning_effort: 'low' }, [['reasoning', 'reasoning_effort']]],
    ['stop as a string', { stop: '\n' }, [['stop', 'stop']]],
    ['stop as a list', { stop: ['END'] }, [['stop', 'stop']]],
    ['stop null or empty', { stop: null }, []],
    ['seed', { seed: 7 }, [['seed', 'seed']]],
    ['seed 0', { seed: 0 }, [['seed', 'seed']]],
    ['plain sampling', { temperature: 0.2, top_p: 0.9, max_tokens: 10, user: 'u' }, []],
  ] as const)('%s', (_name, fields, expected) => {
    const found = chatRequestFeatures({ messages: [user], ...fields });
    expect(found.map((f) => [f.feature, f.param])).toEqual(expected);
  });

  it.each([
    ['an image part', [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, image] }], [['vision', 'messages.0.content']]],
    ['text parts only', [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], []],
    ['a tool result', [user, { role: 'tool', tool_call_id: 'c1', content: '{}' }], [['tools', 'messages.1']]],
    [
      'an assistant tool call',
      [user, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }] }],
      [['tools', 'messages.1']],
    ],
  ] as const)('messages with %s', (_name, messages, expected) => {
    expect(chatRequestFeatures({ messages }).map((f) => [f.feature, f.param])).toEqual(expected);
  });

  it('names the first field of each feature, in the order of the feature list', () => {
    const found = chatRequestFeatures({
      messages: [
        { role: 'user', content: [image] },
        { role: 'tool', content: 'x' },
      ],
      seed: 1,
      n: 3,
      tool_choice: 'auto',
      tools: [tool],
      response_format: { type: 'json_object' },
    });
    expect(found).toEqual([
      { feature: 'tools', param: 'tools' },
      { feature: 'structured-output', param: 'response_format' },
      { feature: 'vision', param: 'messages.0.content' },
      { feature: 'multiple-choices', param: 'n' },
      { feature: 'seed', param: 'seed' },
    ]);
  });
});
