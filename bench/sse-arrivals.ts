/**
 * Counts a chat stream's content chunks as its bytes arrive, however the network splits them: each complete
 * SSE event whose data carries `"content":` is one chunk; `data: [DONE]` ends the stream.
 */
export class SseArrivals {
  private pending = '';
  contentChunks = 0;
  done = false;

  /** Feeds bytes as text; returns how many content chunks completed in them. */
  feed(text: string): number {
    this.pending += text;
    let completed = 0;
    for (let end = this.pending.indexOf('\n\n'); end >= 0; end = this.pending.indexOf('\n\n')) {
      const event = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      if (event.startsWith('data: [DONE]')) this.done = true;
      else if (event.startsWith('data:') && event.includes('"content":')) completed += 1;
    }
    this.contentChunks += completed;
    return completed;
  }
}
