import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exitWithParent } from './child-lifecycle.js';

/**
 * The bench's upstream: bare node:http, an OpenAI-shaped chat completion with `usage`, or an SSE stream of
 * BENCH_STREAM_CHUNKS content chunks BENCH_STREAM_GAP_MS apart, then a usage chunk and [DONE]. Light enough that
 * the bench prints its own ceiling far above what the proxies reach (the token-exact simulator was the ceiling).
 * A path prefix `/s/<chunks>/<gapMs>/<chunkChars>` picks another stream shape (chunkChars > 0 pads each chunk's
 * text to that length before its word), so one process serves fast, slow and wide streams.
 */
const apiKey = process.env.BENCH_UPSTREAM_KEY;
if (!apiKey) throw new Error('BENCH_UPSTREAM_KEY is not set');
const expectedAuthorization = `Bearer ${apiKey}`;
const defaultChunks = wholeNumber('BENCH_STREAM_CHUNKS', 20);
const defaultGapMs = wholeNumber('BENCH_STREAM_GAP_MS', 5);
const FILLER = 'the freight yard sorts wagons by destination before the night train leaves. ';
const COMPLETION_TOKENS = 16;
const CHAT_PATH = '/v1/chat/completions';
const STREAM_FLAG = Buffer.from('"stream":true');

function wholeNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got '${raw}'`);
  return value;
}

const created = Math.floor(Date.now() / 1000);
let sequence = 0;

function completion(promptTokens: number): string {
  sequence += 1;
  return JSON.stringify({
    id: `chatcmpl-bench-${sequence}`,
    object: 'chat.completion',
    created,
    model: 'bench-light',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'The timetable holds: trains leave on the hour.' }, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: promptTokens, completion_tokens: COMPLETION_TOKENS, total_tokens: promptTokens + COMPLETION_TOKENS },
  });
}

function chunk(id: string, delta: Record<string, string>, finish: string | null): string {
  return `data: ${JSON.stringify({
    id,
    object: 'chat.completion.chunk',
    created,
    model: 'bench-light',
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;
}

/** Chunk n's text: ` word<n>`, after filler up to `chunkChars` in all; the word ends it so a client can find the last. */
function chunkText(n: number, chunkChars: number): string {
  const word = ` word${n}`;
  const room = chunkChars - word.length;
  return room <= 0 ? word : FILLER.repeat(Math.ceil(room / FILLER.length)).slice(0, room) + word;
}

function stream(res: ServerResponse, promptTokens: number, shape: StreamShape): void {
  const { chunks, gapMs, chunkChars } = shape;
  sequence += 1;
  const id = `chatcmpl-bench-${sequence}`;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    sent += 1;
    const last = sent >= chunks;
    const content = chunkText(sent, chunkChars);
    res.write(chunk(id, sent === 1 ? { role: 'assistant', content } : { content }, last ? 'stop' : null));
    if (!last) {
      timer = setTimeout(next, gapMs);
      return;
    }
    const usage = { prompt_tokens: promptTokens, completion_tokens: chunks, total_tokens: promptTokens + chunks };
    res.end(
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: 'bench-light', choices: [], usage })}\n\ndata: [DONE]\n\n`,
    );
  };
  res.once('close', () => clearTimeout(timer));
  if (chunks === 0) res.end('data: [DONE]\n\n');
  else next();
}

interface StreamShape {
  chunks: number;
  gapMs: number;
  chunkChars: number;
}

/** `/v1/chat/completions` or `/s/<chunks>/<gapMs>/<chunkChars>/v1/chat/completions`; undefined for anything else. */
function streamShape(url: string): StreamShape | undefined {
  if (url === CHAT_PATH) return { chunks: defaultChunks, gapMs: defaultGapMs, chunkChars: 0 };
  const match = /^\/s\/(\d+)\/(\d+)\/(\d+)\/v1\/chat\/completions$/.exec(url);
  return match ? { chunks: Number(match[1]), gapMs: Number(match[2]), chunkChars: Number(match[3]) } : undefined;
}

function answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const shape = streamShape(req.url ?? '');
  if (req.method !== 'POST' || !shape) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"no such route"}}');
    return;
  }
  if (req.headers.authorization !== expectedAuthorization) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"invalid_api_key","message":"wrong key"}}');
    return;
  }
  // A rough count is enough here: the bench checks that every answer is recorded, not what it costs.
  const promptTokens = Math.max(1, Math.ceil(body.length / 4));
  if (body.includes(STREAM_FLAG)) stream(res, promptTokens, shape);
  else {
    const json = completion(promptTokens);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }).end(json);
  }
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => parts.push(part));
  req.on('end', () => answer(req, res, parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
});
server.keepAliveTimeout = 60_000;
server.maxRequestsPerSocket = 0;

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, resolve));
exitWithParent(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
