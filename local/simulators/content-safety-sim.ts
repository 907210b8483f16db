/**
 * A loopback simulator of Azure AI Content Safety following AZURE.md §4 at api-version 2024-09-01:
 * `POST /contentsafety/text:analyze` (§4.2) and `POST /contentsafety/text:shieldPrompt` (§4.3) with their
 * request and answer JSON and limits, the blocklist routes of §4.6 (merge-patch create, add/remove items in
 * batches of at most 100, list, delete), auth by `Ocp-Apim-Subscription-Key` or `Authorization: Bearer` (§4.1),
 * and errors as `{"error":{"code","message"}}` with `x-ms-error-code` (§4.1). The exact error codes of a bad
 * api-version or body are not in AZURE.md [unverified]: this answers 400 `InvalidRequestBody` /
 * `UnsupportedApiVersion` and 404 `BlocklistNotFound`.
 *
 * Verdicts are deterministic, driven by marker words: `SIM_HATE_4` gives Hate severity 4 (likewise SEXUAL,
 * VIOLENCE, SELFHARM with 0-7; FourSeverityLevels rounds down to 0, 2, 4 or 6), `SIM_ATTACK` in the user prompt
 * or a document is an attack, and an item of a named blocklist found in the text (case-insensitive) is a match.
 * Faults: queued or random statuses (429 with `retry-after`), `timeout` (never answers), `reset`; `down`
 * resets every connection; `latencyMs` slows every answer.
 */
import { randomUUID } from 'node:crypto';
import type { SelfTestCanaries } from '../../shared/safety/self-test.js';
import { textRecords } from '../../shared/safety/text-chunks.js';
import { FaultPlan, retryAfterHeaders, type SimFault, type SimFaultRate } from './sim-faults.js';
import { queryRecord, SimStatsRecorder, startSimServer, type SimExchange, type SimServerOptions, type SimStats } from './sim-server.js';

export const CONTENT_SAFETY_SIM_API_VERSION = '2024-09-01';

/** The faults Content Safety can show: a status, silence or a reset. */
export type ContentSafetySimFault = Extract<SimFault, { kind: 'status' } | { kind: 'timeout' } | { kind: 'reset' }>;

export interface ContentSafetySimBehaviour {
  /** Keys accepted in `Ocp-Apim-Subscription-Key`; none and no tokens means open. */
  apiKeys?: string[];
  /** Bearer tokens accepted, standing in for Entra tokens for https://cognitiveservices.azure.com/.default. */
  acceptBearerTokens?: string[];
  /** Delay before every answer. */
  latencyMs?: number;
  /** Every connection is reset: the service is down. */
  down?: boolean;
  faultRate?: SimFaultRate<ContentSafetySimFault>;
}

export interface ContentSafetySimOptions extends SimServerOptions, ContentSafetySimBehaviour {}

export interface ContentSafetySimStats extends SimStats {
  analyzeCalls: number;
  shieldCalls: number;
  /** Text records of the calls answered 200 (1 per started 1,000 characters), as Azure would bill them. */
  textRecords: number;
}

export interface ContentSafetySim {
  /** The resource endpoint, as an app setting names it (`https://<resource>.cognitiveservices.azure.com`). */
  url: string;
  port: number;
  stats(): ContentSafetySimStats;
  resetStats(): void;
  injectFaults(faults: ContentSafetySimFault[]): void;
  setOptions(options: Partial<ContentSafetySimBehaviour>): void;
  /** The items of a blocklist the simulator stores, for tests. */
  blocklistItems(name: string): string[] | undefined;
  close(): Promise<void>;
}

const CATEGORIES = ['Hate', 'SelfHarm', 'Sexual', 'Violence'] as const;
const MARKERS: Record<(typeof CATEGORIES)[number], RegExp> = {
  Hate: /SIM_HATE_([0-7])/g,
  SelfHarm: /SIM_SELFHARM_([0-7])/g,
  Sexual: /SIM_SEXUAL_([0-7])/g,
  Violence: /SIM_VIOLENCE_([0-7])/g,
};
const MAX_TEXT_CHARS = 10_000;
const MAX_SHIELD_DOCUMENTS = 5;
const MAX_BATCH = 100;
const BLOCKLIST_NAME = /^[0-9A-Za-z._~-]{1,64}$/;

interface StoredBlocklist {
  description: string;
  items: Map<string, { blocklistItemId: string; text: string; description: string }>;
}

function severityOf(text: string, category: (typeof CATEGORIES)[number], eightLevels: boolean): number {
  let highest = 0;
  for (const [, level] of text.matchAll(MARKERS[category])) highest = Math.max(highest, Number(level));
  return eightLevels ? highest : highest - (highest % 2);
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Starts the simulator on loopback; `close()` it when done. */
export async function startContentSafetySim(options: ContentSafetySimOptions = {}): Promise<ContentSafetySim> {
  const { host, port, ...initial } = options;
  let behaviour: ContentSafetySimBehaviour = { ...initial };
  const stats = new SimStatsRecorder();
  const faults = new FaultPlan<ContentSafetySimFault>();
  const blocklists = new Map<string, StoredBlocklist>();
  let counts = { analyzeCalls: 0, shieldCalls: 0, textRecords: 0 };

  const fail = (exchange: SimExchange, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    exchange.sendJson(status, { error: { code, message } }, { ...headers, 'x-ms-error-code': code });

  function authorized(exchange: SimExchange): boolean {
    const keys = behaviour.apiKeys ?? [];
    const tokens = behaviour.acceptBearerTokens ?? [];
    if (keys.length === 0 && tokens.length === 0) return true;
    const key = exchange.req.headers['ocp-apim-subscription-key'];
    if (typeof key === 'string' && keys.includes(key)) return true;
    const authorization = exchange.req.headers.authorization;
    return typeof authorization === 'string' && /^bearer /i.test(authorization) && tokens.includes(authorization.slice(7).trim());
  }

  function analyze(exchange: SimExchange, body: unknown) {
    if (!isRecord(body) || typeof body.text !== 'string' || body.text.length === 0)
      return fail(exchange, 400, 'InvalidRequestBody', "The field 'text' is required and must be a non-empty string.");
    const text = body.text;
    if (text.length > MAX_TEXT_CHARS)
      return fail(exchange, 400, 'InvalidRequestBody', `The text is longer than ${MAX_TEXT_CHARS} characters.`);
    const outputType = body.outputType ?? 'FourSeverityLevels';
    if (outputType !== 'FourSeverityLevels' && outputType !== 'EightSeverityLevels')
      return fail(exchange, 400, 'InvalidRequestBody', "'outputType' must be FourSeverityLevels or EightSeverityLevels.");
    const categories = body.categories ?? CATEGORIES;
    if (!Array.isArray(categories) || !categories.every((c) => (CATEGORIES as readonly unknown[]).includes(c)))
      return fail(exchange, 400, 'InvalidRequestBody', `'categories' may hold ${CATEGORIES.join(', ')} only.`);
    const names = body.blocklistNames ?? [];
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
      return fail(exchange, 400, 'InvalidRequestBody', "'blocklistNames' must be a list of names.");
    const missing = names.find((name) => !blocklists.has(name));
    if (missing !== undefined) return fail(exchange, 404, 'BlocklistNotFound', `The blocklist '${missing}' does not exist.`);
    const lower = text.toLowerCase();
    const blocklistsMatch = names.flatMap((name) =>
      [...blocklists.get(name)!.items.values()]
        .filter((item) => lower.includes(item.text.toLowerCase()))
        .map((item) => ({ blocklistName: name, blocklistItemId: item.blocklistItemId, blocklistItemText: item.text })),
    );
    const halted = blocklistsMatch.length > 0 && body.haltOnBlocklistHit === true;
    const eight = outputType === 'EightSeverityLevels';
    const categoriesAnalysis = halted
      ? []
      : (categories as Array<(typeof CATEGORIES)[number]>).map((category) => ({ category, severity: severityOf(text, category, eight) }));
    counts.analyzeCalls += 1;
    counts.textRecords += textRecords(text.length);
    exchange.sendJson(200, { blocklistsMatch, categoriesAnalysis });
    stats.succeeded({});
  }

  function shieldPrompt(exchange: SimExchange, body: unknown) {
    if (!isRecord(body)) return fail(exchange, 400, 'InvalidRequestBody', 'The body must be a JSON object.');
    const { userPrompt, documents = [] } = body;
    if (userPrompt !== undefined && typeof userPrompt !== 'string')
      return fail(exchange, 400, 'InvalidRequestBody', "'userPrompt' must be a string.");
    if (!Array.isArray(documents) || !documents.every((d) => typeof d === 'string'))
      return fail(exchange, 400, 'InvalidRequestBody', "'documents' must be a list of strings.");
    if (userPrompt === undefined && documents.length === 0)
      return fail(exchange, 400, 'InvalidRequestBody', "Send 'userPrompt', 'documents' or both.");
    if ((userPrompt?.length ?? 0) > MAX_TEXT_CHARS)
      return fail(exchange, 400, 'InvalidRequestBody', `The user prompt is longer than ${MAX_TEXT_CHARS} characters.`);
    const documentChars = documents.reduce((sum: number, d: string) => sum + d.length, 0);
    if (documents.length > MAX_SHIELD_DOCUMENTS || documentChars > MAX_TEXT_CHARS)
      return fail(exchange, 400, 'InvalidRequestBody', `At most ${MAX_SHIELD_DOCUMENTS} documents of ${MAX_TEXT_CHARS} characters in all.`);
    counts.shieldCalls += 1;
    counts.textRecords += textRecords((userPrompt?.length ?? 0) + documentChars);
    exchange.sendJson(200, {
      ...(userPrompt === undefined ? {} : { userPromptAnalysis: { attackDetected: userPrompt.includes('SIM_ATTACK') } }),
      documentsAnalysis: (documents as string[]).map((d) => ({ attackDetected: d.includes('SIM_ATTACK') })),
    });
    stats.succeeded({});
  }

  function blocklistView(name: string, list: StoredBlocklist) {
    return { blocklistName: name, description: list.description };
  }

  async function blocklistRoute(exchange: SimExchange, rest: string, body: unknown): Promise<void> {
    const method = exchange.req.method ?? '';
    if (rest === '' && method === 'GET')
      return exchange.sendJson(200, { value: [...blocklists].map(([name, list]) => blocklistView(name, list)) });
    const [, rawName, action, sub] = /^\/([^/:]+)(?::([A-Za-z]+))?(\/blocklistItems)?$/.exec(rest) ?? [];
    const name = rawName === undefined ? undefined : decodeURIComponent(rawName);
    if (name === undefined || !BLOCKLIST_NAME.test(name)) return fail(exchange, 404, 'NotFound', 'No such route.');
    const list = blocklists.get(name);
    if (action === undefined && sub === undefined) {
      if (method === 'PATCH') {
        if (exchange.req.headers['content-type']?.split(';')[0]?.trim() !== 'application/merge-patch+json')
          return fail(exchange, 415, 'UnsupportedMediaType', 'Send the body as application/merge-patch+json.');
        const description = isRecord(body) && typeof body.description === 'string' ? body.description : (list?.description ?? '');
        const stored = list ?? { description, items: new Map() };
        stored.description = description;
        blocklists.set(name, stored);
        return exchange.sendJson(list ? 200 : 201, blocklistView(name, stored));
      }
      if (!list) return fail(exchange, 404, 'BlocklistNotFound', `The blocklist '${name}' does not exist.`);
      if (method === 'GET') return exchange.sendJson(200, blocklistView(name, list));
      if (method === 'DELETE') {
        blocklists.delete(name);
        exchange.res.writeHead(204).end();
        return;
      }
    }
    if (!list) return fail(exchange, 404, 'BlocklistNotFound', `The blocklist '${name}' does not exist.`);
    if (sub !== undefined && method === 'GET') {
      const skip = Number(exchange.url.searchParams.get('skip') ?? 0);
      const top = Number(exchange.url.searchParams.get('top') ?? exchange.url.searchParams.get('maxpagesize') ?? 1000);
      return exchange.sendJson(200, { value: [...list.items.values()].slice(skip, skip + top) });
    }
    if (action === 'addOrUpdateBlocklistItems' && method === 'POST') {
      const items = isRecord(body) ? body.blocklistItems : undefined;
      if (!Array.isArray(items) || items.length === 0 || items.length > MAX_BATCH)
        return fail(exchange, 400, 'InvalidRequestBody', `'blocklistItems' holds 1 to ${MAX_BATCH} items.`);
      if (!items.every((i) => isRecord(i) && typeof i.text === 'string' && i.text.length > 0 && i.text.length <= 128))
        return fail(exchange, 400, 'InvalidRequestBody', 'Every item has a text of 1 to 128 characters.');
      const added = (items as Array<{ text: string; description?: string }>).map((item) => {
        const existing = [...list.items.values()].find((i) => i.text === item.text);
        const stored = { blocklistItemId: existing?.blocklistItemId ?? randomUUID(), text: item.text, description: item.description ?? '' };
        list.items.set(stored.blocklistItemId, stored);
        return stored;
      });
      return exchange.sendJson(200, { blocklistItems: added });
    }
    if (action === 'removeBlocklistItems' && method === 'POST') {
      const ids = isRecord(body) ? body.blocklistItemIds : undefined;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_BATCH || !ids.every((id) => typeof id === 'string'))
        return fail(exchange, 400, 'InvalidRequestBody', `'blocklistItemIds' holds 1 to ${MAX_BATCH} ids.`);
      for (const id of ids) list.items.delete(id);
      exchange.res.writeHead(204).end();
      return;
    }
    return fail(exchange, 405, 'MethodNotAllowed', `${method} is not supported here.`);
  }

  async function handle(exchange: SimExchange): Promise<void> {
    const config = behaviour;
    if (config.down) return exchange.reset();
    const { raw, json } = await exchange.readBody();
    const { req, url } = exchange;
    stats.received({ method: req.method ?? '', path: url.pathname, query: queryRecord(url), headers: req.headers, body: json ?? raw });
    if (!url.pathname.startsWith('/contentsafety/')) return fail(exchange, 404, 'NotFound', 'Resource not found.');
    if (!authorized(exchange))
      return fail(
        exchange,
        401,
        'PermissionDenied',
        'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
      );
    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion !== CONTENT_SAFETY_SIM_API_VERSION)
      return fail(
        exchange,
        400,
        'UnsupportedApiVersion',
        `The api-version '${apiVersion ?? ''}' is not supported; use ${CONTENT_SAFETY_SIM_API_VERSION}.`,
      );

    const fault = faults.next(config.faultRate);
    if (fault?.kind === 'status')
      return fail(
        exchange,
        fault.status,
        fault.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable',
        `Simulated ${fault.status}.`,
        retryAfterHeaders(fault),
      );
    if (fault?.kind === 'timeout') return exchange.hang();
    if (fault?.kind === 'reset') return exchange.reset();
    if (!(await exchange.wait(config.latencyMs ?? 0))) return;

    const path = url.pathname.slice('/contentsafety'.length);
    const isJson = req.headers['content-type']?.split(';')[0]?.trim() === 'application/json';
    if (path === '/text:analyze' || path === '/text:shieldPrompt') {
      if (req.method !== 'POST') return fail(exchange, 405, 'MethodNotAllowed', `${req.method} is not supported here.`);
      if (!isJson || json === undefined) return fail(exchange, 400, 'InvalidRequestBody', 'The body must be JSON.');
      if (path === '/text:analyze') return analyze(exchange, json);
      return shieldPrompt(exchange, json);
    }
    if (path === '/text/blocklists' || path.startsWith('/text/blocklists/'))
      return blocklistRoute(exchange, path.slice('/text/blocklists'.length), json);
    return fail(exchange, 404, 'NotFound', 'Resource not found.');
  }

  const server = await startSimServer({ host, port }, stats, handle);
  return {
    url: server.url,
    port: server.port,
    stats: () => ({ ...stats.snapshot(), ...counts }),
    resetStats: () => {
      stats.reset();
      counts = { analyzeCalls: 0, shieldCalls: 0, textRecords: 0 };
    },
    injectFaults: (list) => faults.inject(list),
    setOptions: (changes) => {
      behaviour = { ...behaviour, ...changes };
    },
    blocklistItems: (name) => {
      const list = blocklists.get(name);
      return list ? [...list.items.values()].map((i) => i.text) : undefined;
    },
    close: () => server.close(),
  };
}

/** Self-test canaries that the simulator's marker words make it score and detect (shared/safety/self-test.ts). */
export const simulatorCanaries: SelfTestCanaries = {
  clean: 'What is the capital of France? Please answer in one word.',
  harmful: { category: 'violence', text: 'A canary for the self-test: SIM_VIOLENCE_6' },
  attack: 'A canary for the self-test: SIM_ATTACK',
};
