import { errors } from '../errors.js';
import type { RequestBody } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a UTF-8 text body (a CSV upload) within a byte limit; a leading byte-order mark is dropped. */
export async function readTextBody(
  body: RequestBody | null,
  options: { maxBytes: number; contentLength?: string | null },
): Promise<string> {
  const declared = options.contentLength ? Number(options.contentLength) : undefined;
  if (declared !== undefined && Number.isFinite(declared) && declared > options.maxBytes) {
    await body?.cancel().catch(() => undefined);
    throw errors.requestTooLarge(options.maxBytes);
  }
  if (!body) throw errors.invalidRequest('The request body is empty.');
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > options.maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw errors.requestTooLarge(options.maxBytes);
    }
    chunks.push(value);
  }
  if (size === 0) throw errors.invalidRequest('The request body is empty.');
  try {
    return utf8.decode(Buffer.concat(chunks, size)).replace(/^\uFEFF/, '');
  } catch {
    throw errors.invalidRequest('The request body is not valid UTF-8.');
  }
}
