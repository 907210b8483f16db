import { describe, expect, it } from 'vitest';
import { chatRequest, embeddingsRequest, type ProtocolTarget } from '../../../shared/upstreams/protocols/index.js';

const key = { kind: 'key', value: 'k-secret' } as const;
const chat = { model: 'alias', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
const streamed = { ...chat, stream: true, stream_options: { include_usage: true } };
const target = (protocol: ProtocolTarget['protocol'], extra: Partial<ProtocolTarget> = {}): ProtocolTarget => ({
  protocol,
  endpoint: 'https://up.example.com',
  upstreamModel: 'm-1',
  ...extra,
});

describe('per-deployment upstream switches in the protocol rooms', () => {
  it('streamOptions false: a streamed request carries no stream_options, not even the caller’s', () => {
    for (const protocol of ['openai', 'azure-openai'] as const) {
      const request = chatRequest(target(protocol, { upstream: { streamOptions: false } }), streamed, undefined);
      expect(request.streams).toBe(true);
      const body = JSON.parse(request.body);
      expect(body.stream).toBe(true);
      expect(body).not.toHaveProperty('stream_options');
      // Left out or true, today's behaviour: usage is asked for.
      for (const upstream of [undefined, { streamOptions: true }]) {
        expect(JSON.parse(chatRequest(target(protocol, { upstream }), streamed, undefined).body)).toMatchObject({
          stream_options: { include_usage: true },
        });
      }
    }
  });

  it('streamOptions false: a non-streamed request drops a stray stream_options too', () => {
    const request = chatRequest(target('openai', { upstream: { streamOptions: false } }), { ...chat, stream_options: null }, undefined);
    expect(JSON.parse(request.body)).not.toHaveProperty('stream_options');
  });

  it('extra headers reach every operation, and never replace the credential or content headers', () => {
    const upstream = { headers: { 'extra-parameters': 'pass-through' } };
    for (const protocol of ['openai', 'azure-openai', 'aml-score'] as const) {
      const request = chatRequest(target(protocol, { upstream }), chat, key);
      expect(request.headers['extra-parameters']).toBe('pass-through');
      expect(request.headers['content-type']).toBe('application/json');
    }
    expect(embeddingsRequest(target('openai', { upstream }), { input: 'x' }, key).headers['extra-parameters']).toBe('pass-through');
    expect(chatRequest(target('openai'), chat, key).headers).not.toHaveProperty('extra-parameters');
  });

  it('aml-score: azureml-model-deployment is the named AML deployment, else the upstream model as today', () => {
    expect(chatRequest(target('aml-score', { upstream: { amlDeployment: 'green' } }), chat, key).headers['azureml-model-deployment']).toBe(
      'green',
    );
    expect(chatRequest(target('aml-score'), chat, key).headers['azureml-model-deployment']).toBe('m-1');
  });

  it('openai on a managed online endpoint: the header only when an AML deployment is named', () => {
    expect(chatRequest(target('openai', { upstream: { amlDeployment: 'green' } }), chat, key).headers['azureml-model-deployment']).toBe(
      'green',
    );
    expect(chatRequest(target('openai'), chat, key).headers).not.toHaveProperty('azureml-model-deployment');
  });
});
