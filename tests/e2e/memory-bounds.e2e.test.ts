import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, putRoute, startTestGateway, type TestGateway } from './harness.js';
import { MAX_SSE_EVENT_BYTES } from '../../shared/http/sse.js';
import type { UsageRecord } from '../../shared/usage/usage-record.js';
import {
  completionJson,
  deltaEvent,
  putHostileDeployment,
  sseDataOf,
  sseHeaders,
  startHostileUpstream,
  watchUsage,
  type HostileUpstream,
} from './hostile-upstream.js';

const MAX_BUFFERED_ANSWER_BYTES = 1024 * 1024;
const HELD_ANSWER_BYTES = 700 * 1024;

const json = { 'content-type': 'application/json' };
const held: ServerResponse[] = [];
// A valid answer of about HELD_ANSWER_BYTES whose last bytes wait until the test releases them.
const heldAnswer = `{"padding":"${'a'.repeat(HELD_ANSWER_BYTES)}",${completionJson().slice(1)}`;
const heldSplit = HELD_ANSWER_BYTES + 12;

let gw: TestGateway;
let upstream: HostileUpstream;
let usage: UsageRecord[];

beforeAll(async () => {
  upstream = await startHostileUpstream({
    ok: (_req, res) => res.writeHead(200, json).end(completionJson()),
    'endless-event': (_req, res) => {
      res.writeHead(200, sseHeaders);
      res.write(deltaEvent('before'));
      res.write(`data: ${'x'.repeat(MAX_SSE_EVENT_BYTES + 1024)}`);
    },
    'held-answer': (_req, res) => {
      res.writeHead(200, json);
      res.write(heldAnswer.slice(0, heldSplit));
      held.push(res);
    },
  });
  gw = await startTestGateway({ env: { SWITCHYARD_MAX_BUFFERED_ANSWER_BYTES: String(MAX_BUFFERED_ANSWER_BYTES) } });
  usage = watchUsage(gw);
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const chat = (alias: string, extra: Record<string, unknown> = {}, requestId?: string) =>
  gw.call('/v1/chat/completions', {
    key: DEMO_KEY,
    method: 'POST',
    headers: requestId ? { 'x-request-id': requestId } : {},
    body: JSON.stringify({ model: alias, messages: [{ role: 'user', content: 'hello' }], ...extra }),
  });

describe('memory held for non-streamed answers, across requests', () => {
  it('answers 503 overloaded with Retry-After when the answers in flight would pass the cap, then releases the bytes', async () => {
    await putHostileDeployment(gw, upstream, 'mem-held', 'held-answer');
    await putHostileDeployment(gw, upstream, 'mem-held-2', 'held-answer');
    await putRoute(gw, 'mem', ['mem-held', 'mem-held-2']);
    const first = chat('mem');
    const second = chat('mem');
    // Together the two answers pass the cap: whichever crosses it first is refused, the other is held until released.
    const refused = await Promise.race([first, second]);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await refused.json()).error.code).toBe('overloaded');
    expect(held.length).toBe(2);
    await expect.poll(() => upstream.activeResponses()).toBe(1);
    for (const res of held.splice(0)) if (!res.destroyed) res.end(heldAnswer.slice(heldSplit));
    const answered = (await first) === refused ? await second : await first;
    expect(answered.status).toBe(200);
    expect((await answered.json()).choices[0].message.content).toBe('ok');
    await expect.poll(() => upstream.activeResponses()).toBe(0);
    await expect.poll(() => gw.services.deps.bufferedAnswers.reservedBytes).toBe(0);
  });

  it('serves answers again once the bytes are released', async () => {
    await putHostileDeployment(gw, upstream, 'mem-ok', 'ok');
    await putRoute(gw, 'mem-ok', ['mem-ok']);
    const answers = await Promise.all([chat('mem-ok'), chat('mem-ok'), chat('mem-ok')]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(gw.services.deps.bufferedAnswers.reservedBytes).toBe(0);
  });
});

describe('memory held for a streamed event', () => {
  it('ends a stream whose event never ends with an upstream_error event at the event cap, drops the upstream and meters it partial', async () => {
    await putHostileDeployment(gw, upstream, 'mem-endless-event', 'endless-event');
    await putRoute(gw, 'mem-endless', ['mem-endless-event']);
    const response = await chat('mem-endless', { stream: true }, 'mem-endless-event');
    expect(response.status).toBe(200);
    const events = sseDataOf(await response.text());
    expect(JSON.parse(events[0]!).choices[0].delta.content).toBe('before');
    expect(JSON.parse(events.at(-1)!).error.code).toBe('upstream_error');
    expect(events).not.toContain('[DONE]');
    await expect.poll(() => upstream.activeResponses()).toBe(0);
    expect(usage.find((r) => r.requestId === 'mem-endless-event')).toMatchObject({ status: 'partial' });
  });
});
