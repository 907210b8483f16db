import { errors } from '../errors.js';
import type { RequestBody } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface ReadBytesOptions {
  maxBytes: number;
  contentLength?: string | null;
  /** What the caller is told when the body is missing or empty. */
  emptyMessage: string;
}

/**
 * Reads a whole request body within a byte limit: a declared length past it is refused before reading, and reading
 * stops as soon as the bytes pass it (413 either way); a missing or empty body is a 400.
 */
export async function readBodyBytes(body: RequestBody | null, options: ReadBytesOptions): Promise<Buffer> {
  const { maxBytes } = options;
  const declared = options.contentLength ? Number(options.contentLength) : undefined;
  if (declared !== undefined && Number.isFinite(declared) && declared > maxBytes) {
    await body?.cancel().catch(() => undefined);
    throw errors.requestTooLarge(maxBytes);
  }
  if (!body) throw errors.invalidRequest(options.emptyMessage);
  // Chunks are bytes whatever the stream's declared type.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw errors.requestTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (size === 0) throw errors.invalidRequest(options.emptyMessage);
  return Buffer.concat(chunks, size);
}

/** Reads a UTF-8 text body (a CSV upload) within a byte limit; a leading byte-order mark is dropped. */
export async function readTextBody(
  body: RequestBody | null,
  options: { maxBytes: number; contentLength?: string | null },
): Promise<string> {
  const bytes = await readBodyBytes(body, { ...options, emptyMessage: 'The request body is empty.' });
  try {
    return utf8.decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw errors.invalidRequest('The request body is not valid UTF-8.');
  }
}
