import { ReadableStream } from 'node:stream/web';
import { describe, expect, it } from 'vitest';
import { type GatewayError, isGatewayError } from '../../shared/errors.js';
import { readJsonBody, type ReadJsonBodyOptions } from '../../shared/http/read-json-body.js';
import type { RequestBody } from '../../shared/http/types.js';

const encoder = new TextEncoder();

interface TrackedStream {
  body: RequestBody;
  /** How many chunks the reader pulled. */
  pulls(): number;
  cancelled(): boolean;
}

/** A pull-based byte stream over the given chunks (or an endless one), recording pulls and cancellation. */
function tracked(chunks: Array<Uint8Array | string> | ((i: number) => Uint8Array)): TrackedStream {
  let pulls = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const i = pulls++;
        if (typeof chunks === 'function') return controller.enqueue(chunks(i));
        const next = chunks[i];
        if (next === undefined) return controller.close();
        controller.enqueue(typeof next === 'string' ? encoder.encode(next) : next);
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { body, pulls: () => pulls, cancelled: () => cancelled };
}

const JSON_TYPE = 'application/json';
const read = (body: RequestBody | null, options: Partial<ReadJsonBodyOptions> = {}) =>
  readJsonBody(body, { maxBytes: 1_024, contentType: JSON_TYPE, ...options });

async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (isGatewayError(error)) return error;
    throw error;
  }
  throw new Error('expected the body to be refused');
}

async function expectRefused(promise: Promise<unknown>, status: number, code: string): Promise<GatewayError> {
  const error = await rejection(promise);
  expect([error.status, error.code]).toEqual([status, code]);
  return error;
}

describe('readJsonBody', () => {
  it('reads a valid object', async () => {
    const value = { model: 'chat', messages: [{ role: 'user', content: 'héllo 👋' }], temperature: 0.2, stream: true, n: null };
    expect(await read(tracked([JSON.stringify(value)]).body)).toEqual(value);
  });

  it('reads a body from a fetch Response stream', async () => {
    const body = new Response('{"a":[1,2,{"b":"c"}]}').body as unknown as RequestBody;
    expect(await read(body)).toEqual({ a: [1, 2, { b: 'c' }] });
  });

  it('reads a body split into many chunks, cutting through multi-byte characters', async () => {
    const bytes = encoder.encode(JSON.stringify({ text: '世界😀'.repeat(20) }));
    const chunks = Array.from({ length: Math.ceil(bytes.byteLength / 3) }, (_, i) => bytes.slice(i * 3 + 1, i * 3 + 4));
    chunks.unshift(bytes.slice(0, 1));
    expect(await read(tracked(chunks).body)).toEqual({ text: '世界😀'.repeat(20) });
  });

  it('accepts a body of exactly maxBytes', async () => {
    const text = `{"a":"${'x'.repeat(1_024 - 8)}"}`;
    expect(encoder.encode(text).byteLength).toBe(1_024);
    expect(await read(tracked([text]).body, { contentLength: '1024' })).toEqual({ a: 'x'.repeat(1_016) });
  });

  it('refuses a declared content-length over the limit with 413 before reading, and cancels the body', async () => {
    const stream = tracked(['{}']);
    const error = await expectRefused(read(stream.body, { contentLength: '1025' }), 413, 'request_too_large');
    expect(error.type).toBe('invalid_request_error');
    expect(error.message).toBe('The request body is larger than the limit of 1024 bytes.');
    expect(stream.pulls()).toBe(0);
    expect(stream.cancelled()).toBe(true);
  });

  it('refuses a chunked body without content-length once it passes the limit, and stops reading', async () => {
    const stream = tracked(() => encoder.encode(' '.repeat(100)));
    await expectRefused(read(stream.body), 413, 'request_too_large');
    expect(stream.pulls()).toBe(11);
    expect(stream.cancelled()).toBe(true);
  });

  it('refuses a body larger than a content-length that lied', async () => {
    const stream = tracked([`{"a":"${'x'.repeat(2_000)}"}`]);
    await expectRefused(read(stream.body, { contentLength: '10' }), 413, 'request_too_large');
  });

  it('ignores a content-length that is not a number and relies on counting', async () => {
    expect(await read(tracked(['{"ok":true}']).body, { contentLength: 'lots' })).toEqual({ ok: true });
  });

  it.each(['{"a":', '{"a":1,}', "{'a':1}", '{} trailing', 'NaN', '{"a":1}{"b":2}', '\u0000{}'])(
    'refuses invalid JSON %j with invalid_json',
    async (text) => {
      const error = await expectRefused(read(tracked([text]).body), 400, 'invalid_json');
      expect(error.type).toBe('invalid_request_error');
      expect(error.message.startsWith('We could not parse the JSON body of your request: ')).toBe(true);
    },
  );

  it.each([
    ['a lone continuation byte', [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]],
    ['an 0xff byte', [0x7b, 0xff, 0x7d]],
    ['a truncated 3-byte sequence', [0x22, 0xe4, 0xb8, 0x22]],
    ['an overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
  ])('refuses invalid UTF-8 (%s) with 400', async (_name, bytes) => {
    const error = await expectRefused(read(tracked([Uint8Array.from(bytes)]).body), 400, 'invalid_json');
    expect(error.message).toBe('We could not parse the JSON body of your request: the body is not valid UTF-8');
  });

  it('refuses an empty body with 400', async () => {
    const error = await expectRefused(read(tracked([]).body), 400, 'invalid_request_error');
    expect(error.message).toBe('The request body is empty; send a JSON object.');
    await expectRefused(read(tracked([new Uint8Array(0), new Uint8Array(0)]).body), 400, 'invalid_request_error');
    await expectRefused(read(null), 400, 'invalid_request_error');
  });

  it('refuses a whitespace-only body as invalid JSON', async () => {
    await expectRefused(read(tracked(['  \n ']).body), 400, 'invalid_json');
  });

  it.each([
    ['__proto__ at the top', '{"__proto__":{"admin":true}}', '__proto__'],
    ['constructor at the top', '{"constructor":{"prototype":{"x":1}}}', 'constructor'],
    ['prototype at the top', '{"prototype":1}', 'prototype'],
    ['__proto__ deep in objects', '{"a":{"b":{"c":{"__proto__":{"polluted":1}}}}}', '__proto__'],
    ['__proto__ inside an array', '{"messages":[{"role":"user"},{"__proto__":null}]}', '__proto__'],
    ['constructor inside nested arrays', '[[[{"ok":1}],[{"constructor":0}]]]', 'constructor'],
  ])('refuses %s with 400', async (_name, text, key) => {
    const error = await expectRefused(read(tracked([text]).body), 400, 'invalid_request_error');
    expect(error.param).toBe(key);
    expect(error.message).toBe(`The key '${key}' is not allowed in a request body.`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('allows the forbidden words as values and inside longer keys', async () => {
    const value = { role: '__proto__', content: 'constructor', my_constructor: 1, prototypes: [] };
    expect(await read(tracked([JSON.stringify(value)]).body)).toEqual(value);
  });

  it('allows nesting of exactly 64 levels and refuses 65', async () => {
    expect(await read(tracked(['['.repeat(64) + ']'.repeat(64)]).body)).toHaveLength(1);
    const error = await expectRefused(read(tracked(['['.repeat(65) + ']'.repeat(65)]).body), 400, 'invalid_json');
    expect(error.message).toBe('We could not parse the JSON body of your request: it is nested deeper than 64 levels');
    await expectRefused(read(tracked([`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`]).body), 400, 'invalid_json');
  });

  it('honours a custom maxDepth', async () => {
    expect(await read(tracked(['{"a":{"b":1}}']).body, { maxDepth: 2 })).toEqual({ a: { b: 1 } });
    await expectRefused(read(tracked(['{"a":{"b":[]}}']).body, { maxDepth: 2 }), 400, 'invalid_json');
  });

  it('refuses 100 000 nested arrays with 400, without overflowing the stack', async () => {
    const depth = 100_000;
    const text = '['.repeat(depth) + ']'.repeat(depth);
    await expectRefused(read(tracked([text]).body, { maxBytes: 1_000_000 }), 400, 'invalid_json');
  });

  it('refuses 100 000 nested objects with 400', async () => {
    const depth = 100_000;
    const text = `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
    await expectRefused(read(tracked([text]).body, { maxBytes: 1_000_000 }), 400, 'invalid_json');
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'json', 'text/json'])(
    'refuses content-type %j with 415 before reading',
    async (contentType) => {
      const stream = tracked(['{}']);
      const error = await expectRefused(read(stream.body, { contentType }), 415, 'unsupported_media_type');
      expect(error.message).toBe('Send the request body as application/json.');
      expect(stream.pulls()).toBe(0);
    },
  );

  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON;charset=UTF-8',
    '  application/json  ',
    'application/vnd.api+json',
  ])('accepts content-type %j', async (contentType) => {
    expect(await read(tracked(['{"a":1}']).body, { contentType })).toEqual({ a: 1 });
  });

  it('accepts a missing content-type', async () => {
    expect(await read(tracked(['{"a":1}']).body, { contentType: null })).toEqual({ a: 1 });
    expect(await read(tracked(['{"a":1}']).body, { contentType: undefined })).toEqual({ a: 1 });
  });

  it('checks the content-type before the size', async () => {
    await expectRefused(read(tracked(['{}']).body, { contentType: 'text/plain', contentLength: '999999' }), 415, 'unsupported_media_type');
  });
});
