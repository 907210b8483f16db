import type { UpstreamHeaders } from './upstream-port.js';

export interface ReadBodyOptions {
  maxBytes: number;
  /** The answer's headers, whose `content-length` lets a body too large be refused before it is read. */
  headers?: UpstreamHeaders;
  /** Told of each chunk before it is kept; may refuse it by throwing. */
  reserve?: (bytes: number) => void;
}

/**
 * Reads a body whole as UTF-8, refusing more than `maxBytes`. On any failure the body is cancelled, so
 * its connection is not held; on success it is left unlocked and ended.
 */
export async function readBody(body: ReadableStream<Uint8Array>, options: ReadBodyOptions): Promise<string> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    const declared = Number(headerValue(options.headers?.['content-length']));
    if (declared > options.maxBytes) throw new Error(`upstream body of ${declared} bytes is larger than ${options.maxBytes} bytes`);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > options.maxBytes) throw new Error(`upstream body larger than ${options.maxBytes} bytes`);
      options.reserve?.(value.byteLength);
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel(error).catch(() => undefined);
    throw error;
  }
  reader.releaseLock();
  return Buffer.concat(chunks, size).toString('utf8');
}

export function headerValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' || value === undefined ? value : value[0];
}

/** Lets go of a body nobody will read, freeing its connection; a body held by a reader is that reader's to cancel. */
export function discardBody(body: ReadableStream<Uint8Array>): void {
  if (!body.locked) body.cancel().catch(() => undefined);
}
