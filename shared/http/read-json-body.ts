import { errors } from '../errors.js';
import { readBodyBytes } from './read-text-body.js';
import type { RequestBody } from './types.js';

export interface ReadJsonBodyOptions {
  maxBytes: number;
  contentLength?: string | null;
  contentType?: string | null;
  /** Deepest nesting of objects and arrays a body may have. */
  maxDepth?: number;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a JSON body from a stream within a byte limit, refusing what is not strict, sane JSON. */
export async function readJsonBody(body: RequestBody | null, options: ReadJsonBodyOptions): Promise<unknown> {
  const { maxBytes } = options;
  if (options.contentType && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(options.contentType.trim())) {
    throw errors.unsupportedMediaType();
  }
  const bytes = await readBodyBytes(body, {
    maxBytes,
    contentLength: options.contentLength,
    emptyMessage: 'The request body is empty; send a JSON object.',
  });
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw errors.invalidJson('the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw errors.invalidJson(error instanceof RangeError ? 'it is nested too deeply' : (error as Error).message);
  }
  checkShape(value, options.maxDepth ?? 64);
  return value;
}

// Walks the parsed value once, without recursion, so hostile nesting cannot exhaust the stack.
function checkShape(root: unknown, maxDepth: number): void {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= maxDepth) throw errors.invalidJson(`it is nested deeper than ${maxDepth} levels`);
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth + 1]);
    } else {
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_KEYS.has(key)) throw errors.invalidRequest(`The key '${key}' is not allowed in a request body.`, key);
        stack.push([(value as Record<string, unknown>)[key], depth + 1]);
      }
    }
  }
}
