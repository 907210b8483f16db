/**
 * Follows a chat stream's SSE events as their bytes arrive, however the network splits them: each complete event
 * whose data carries `"content":` is a content chunk; `data: [DONE]` ends the stream; `lastText` (say, the last
 * word the upstream sends) tells whether the whole answer came through, however a proxy re-chunked it.
 */
export class SseArrivals {
  private pending = '';
  dataEvents = 0;
  contentChunks = 0;
  done = false;
  sawLastText = false;

  constructor(private readonly lastText?: string) {}

  /** Feeds bytes as text; returns how many content chunks completed in them. */
  feed(text: string): number {
    this.pending += text;
    let completed = 0;
    for (let end = this.pending.indexOf('\n\n'); end >= 0; end = this.pending.indexOf('\n\n')) {
      const event = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      if (!event.startsWith('data:')) continue;
      if (event.startsWith('data: [DONE]')) {
        this.done = true;
        continue;
      }
      this.dataEvents += 1;
      if (event.includes('"content":')) completed += 1;
      if (this.lastText !== undefined && event.includes(this.lastText)) this.sawLastText = true;
    }
    this.contentChunks += completed;
    return completed;
  }
}
