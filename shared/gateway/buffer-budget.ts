/**
 * Bytes of non-streamed answers this process holds at once, across all requests: each answer is read whole
 * before it is checked and metered, so without a shared cap many large answers at once exhaust memory.
 */
export class BufferBudget {
  #reservedBytes = 0;

  constructor(readonly capacityBytes: number) {}

  /** Takes `bytes` if they fit under the cap; false (taking nothing) if they do not. */
  tryReserve(bytes: number): boolean {
    if (this.#reservedBytes + bytes > this.capacityBytes) return false;
    this.#reservedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#reservedBytes = Math.max(0, this.#reservedBytes - bytes);
  }

  get reservedBytes(): number {
    return this.#reservedBytes;
  }
}
