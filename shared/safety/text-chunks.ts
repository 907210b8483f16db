/** Where a chunk may end, looked for this far back from the limit: a line break, then a sentence end, then a space. */
const LOOK_BACK_CHARS = 500;

/**
 * `text` cut into pieces of at most `maxChars` UTF-16 units, preferably at a line break, a sentence end or a
 * space near the limit (so a phrase is rarely cut in two), never inside a surrogate pair.
 */
export function chunkText(text: string, maxChars: number): string[] {
  if (text.length <= maxChars) return [text];
  const chunks: string[] = [];
  let start = 0;
  while (text.length - start > maxChars) {
    let end = start + maxChars;
    const window = text.slice(Math.max(start, end - LOOK_BACK_CHARS), end);
    const offset = end - window.length;
    const cut = [window.lastIndexOf('\n'), window.lastIndexOf('. '), window.lastIndexOf(' ')].find((at) => at > 0);
    if (cut !== undefined) end = offset + cut + 1;
    else if (isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
    chunks.push(text.slice(start, end));
    start = end;
  }
  chunks.push(text.slice(start));
  return chunks;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Azure bills Content Safety per text record: up to 1,000 characters each, at least one per call. */
export function textRecords(chars: number): number {
  return Math.max(1, Math.ceil(chars / 1000));
}
