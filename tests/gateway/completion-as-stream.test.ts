import { describe, expect, it } from 'vitest';
import { completionAsStream } from '../../shared/gateway/completion-as-stream.js';

const completion = (choices: Array<{ content: string; finish_reason: string }>) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'm',
    choices: choices.map((c, index) => ({ index, message: { role: 'assistant', content: c.content }, finish_reason: c.finish_reason })),
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });

async function events(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const text = await new Response(stream).text();
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((event) => event.replace(/^data: /, ''));
}

describe('a finished completion told as a stream', () => {
  it('sends the role, the content and the finish reason, then [DONE]; usage only when asked', async () => {
    const sent = await events(completionAsStream(completion([{ content: 'Hi there', finish_reason: 'length' }]), false));
    expect(sent.at(-1)).toBe('[DONE]');
    const chunks = sent.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0].delta)).toEqual([{ role: 'assistant', content: '' }, { content: 'Hi there' }, {}]);
    expect(chunks.map((c) => c.choices[0].finish_reason)).toEqual([null, null, 'length']);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-1' && c.created === 1_700_000_000)).toBe(true);

    const withUsage = await events(completionAsStream(completion([{ content: 'Hi', finish_reason: 'stop' }]), true));
    expect(JSON.parse(withUsage.at(-2)!)).toMatchObject({ choices: [], usage: { total_tokens: 5 } });
  });

  it('tells every choice, each under its index', async () => {
    const sent = await events(
      completionAsStream(
        completion([
          { content: 'a', finish_reason: 'stop' },
          { content: 'b', finish_reason: 'stop' },
        ]),
        false,
      ),
    );
    const contents = sent
      .slice(0, -1)
      .map((e) => JSON.parse(e).choices[0])
      .filter((c) => c.delta.content);
    expect(contents).toEqual([
      { index: 0, delta: { content: 'a' }, finish_reason: null },
      { index: 1, delta: { content: 'b' }, finish_reason: null },
    ]);
  });
});
