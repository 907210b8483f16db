import { describe, expect, it } from 'vitest';
import {
  chatRequest,
  embeddingsRequest,
  operationsServed,
  protocolNames,
  type ProtocolTarget,
} from '../../../shared/upstreams/protocols/index.js';

const key = { kind: 'key', value: 'k-secret' } as const;
const bearer = { kind: 'bearer', value: 't-token' } as const;
const chat = { model: 'alias', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
const target = (protocol: ProtocolTarget['protocol'], extra: Partial<ProtocolTarget> = {}): ProtocolTarget => ({
  protocol,
  endpoint: 'https://up.example.com/base/',
  upstreamModel: 'm-1',
  ...extra,
});

describe('the protocol table', () => {
  it('lists every protocol and what each serves', () => {
    expect(protocolNames).toEqual(['openai', 'azure-openai', 'aml-score']);
    expect(operationsServed('openai')).toEqual(['chat', 'embeddings']);
    expect(operationsServed('azure-openai')).toEqual(['chat', 'embeddings']);
    expect(operationsServed('aml-score')).toEqual(['chat']);
  });

  it('openai: the upstream model in the body, the key in both headers, api-version only when set', () => {
    const request = chatRequest(target('openai'), chat, key);
    expect(request.url).toBe('https://up.example.com/base/chat/completions');
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      accept: 'application/json',
      'api-key': 'k-secret',
      authorization: 'Bearer k-secret',
    });
    expect(JSON.parse(request.body)).toEqual({ ...chat, model: 'm-1' });
    expect(request.streams).toBe(false);
    expect(chatRequest(target('openai', { apiVersion: '2024-10-21' }), chat, bearer).url).toBe(
      'https://up.example.com/base/chat/completions?api-version=2024-10-21',
    );
    expect(chatRequest(target('openai'), chat, bearer).headers).not.toHaveProperty('api-key');
  });

  it("openai and azure-openai: a streamed request asks for usage, keeping the caller's other stream options", () => {
    for (const protocol of ['openai', 'azure-openai'] as const) {
      const request = chatRequest(
        target(protocol),
        { ...chat, stream: true, stream_options: { include_usage: false, extra: 1 } },
        undefined,
      );
      expect(request.streams).toBe(true);
      expect(request.headers.accept).toBe('text/event-stream');
      expect(JSON.parse(request.body)).toMatchObject({ stream: true, stream_options: { include_usage: true, extra: 1 } });
    }
  });

  it('azure-openai: the deployment path with the default api-version, no model in the body, the key in api-key alone', () => {
    const request = chatRequest(target('azure-openai', { upstreamModel: 'gpt 4o' }), chat, key);
    expect(request.url).toBe('https://up.example.com/base/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21');
    expect(JSON.parse(request.body)).not.toHaveProperty('model');
    expect(request.headers['api-key']).toBe('k-secret');
    expect(request.headers).not.toHaveProperty('authorization');
    const embeddings = embeddingsRequest(
      target('azure-openai', { apiVersion: '2025-01-01-preview' }),
      { model: 'x', input: 'text' },
      bearer,
    );
    expect(embeddings.url).toBe('https://up.example.com/base/openai/deployments/m-1/embeddings?api-version=2025-01-01-preview');
    expect(embeddings.headers.authorization).toBe('Bearer t-token');
    expect(JSON.parse(embeddings.body)).toEqual({ input: 'text' });
  });

  it('aml-score: /score pinned to the deployment, input_data, and never a stream even when the caller asks for one', () => {
    const request = chatRequest(target('aml-score'), { ...chat, stream: true, temperature: 0, top_p: 0.5 }, bearer);
    expect(request.url).toBe('https://up.example.com/base/score');
    expect(request.streams).toBe(false);
    expect(request.headers).toMatchObject({
      accept: 'application/json',
      'azureml-model-deployment': 'm-1',
      authorization: 'Bearer t-token',
    });
    expect(JSON.parse(request.body)).toEqual({
      input_data: {
        input_string: [{ role: 'user', content: 'hi' }],
        parameters: { max_new_tokens: 5, temperature: 0, do_sample: false, top_p: 0.5 },
      },
    });
  });

  it('refuses an operation a protocol does not serve', () => {
    expect(() => embeddingsRequest(target('aml-score'), { input: 'x' }, undefined)).toThrow(/serves no embeddings/);
  });
});
