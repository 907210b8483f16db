import { skeletonOf, type Skeleton } from './text-skeleton.js';

/** A named list of terms a team's safety profile can name. */
export interface Blocklist {
  name: string;
  items: readonly string[];
}

/** One blocklist item found in a text, at its place in the original (UTF-16 offsets, end exclusive). */
export interface BlocklistHit {
  blocklist: string;
  item: string;
  start: number;
  end: number;
}

export interface BlocklistScan {
  hits: BlocklistHit[];
  /**
   * Where a match that has begun but not ended could start: a stream must hold text from here back until
   * more arrives. `text.length` when nothing is pending.
   */
  pendingFrom: number;
}

/** Enough to block; past it a hostile list (a, aa, aaa…) over a hostile text cannot make a scan quadratic. */
const MAX_HITS = 100;

// Scripts that put spaces between words: an item in them matches whole words only ("ass" never in "class").
// Others (Chinese, Japanese, Thai…) match anywhere.
const SPACED_SCRIPT = /[\p{sc=Latin}\p{sc=Greek}\p{sc=Cyrillic}\p{sc=Armenian}\p{sc=Georgian}\p{Nd}]/u;

interface Entry {
  blocklist: string;
  item: string;
  length: number;
}

/**
 * Finds the items of any number of blocklists in one pass over a text (Aho-Corasick over skeletons), so the
 * cost is linear in the text whatever the lists hold. Matching is on skeletons (text-skeleton.ts): case, width,
 * diacritics, look-alike digits and separators between letters do not hide an item.
 */
export class BlocklistMatcher {
  /** The longest item, in skeleton units. */
  readonly longestItem: number;
  private readonly next: Array<Map<string, number>> = [new Map()];
  private readonly fail: number[] = [0];
  private readonly depth: number[] = [0];
  /** The entries ending at a node, and the nearest node down its fail chain that has some. */
  private readonly entries: Entry[][] = [[]];
  private readonly outputLink: number[] = [-1];

  constructor(lists: readonly Blocklist[]) {
    let longest = 0;
    for (const list of lists) {
      for (const item of list.items) {
        const skeleton = skeletonOf(item).text;
        if (skeleton.length === 0) continue;
        longest = Math.max(longest, skeleton.length);
        this.entries[this.insert(skeleton)]!.push({ blocklist: list.name, item, length: skeleton.length });
      }
    }
    this.longestItem = longest;
    this.link();
  }

  get isEmpty(): boolean {
    return this.longestItem === 0;
  }

  private insert(word: string): number {
    let node = 0;
    for (let k = 0; k < word.length; k++) {
      const ch = word[k]!;
      let child = this.next[node]!.get(ch);
      if (child === undefined) {
        child = this.next.length;
        this.next.push(new Map());
        this.fail.push(0);
        this.depth.push(this.depth[node]! + 1);
        this.entries.push([]);
        this.outputLink.push(-1);
        this.next[node]!.set(ch, child);
      }
      node = child;
    }
    return node;
  }

  private link(): void {
    const queue: number[] = [];
    for (const child of this.next[0]!.values()) queue.push(child);
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head]!;
      for (const [ch, child] of this.next[node]!) {
        let fallback = this.fail[node]!;
        while (fallback !== 0 && !this.next[fallback]!.has(ch)) fallback = this.fail[fallback]!;
        const target = this.next[fallback]!.get(ch);
        this.fail[child] = target !== undefined && target !== child ? target : 0;
        const failNode = this.fail[child]!;
        this.outputLink[child] = this.entries[failNode]!.length > 0 ? failNode : this.outputLink[failNode]!;
        queue.push(child);
      }
    }
  }

  private step(node: number, ch: string): number {
    let current = node;
    for (;;) {
      const child = this.next[current]!.get(ch);
      if (child !== undefined) return child;
      if (current === 0) return 0;
      current = this.fail[current]!;
    }
  }

  /**
   * The items found in `text`. When `final` is false, more text may follow: an item at the very end is not
   * reported yet (the next letter may extend the word), it is pending.
   */
  scan(text: string, options: { final: boolean } = { final: true }): BlocklistScan {
    if (this.isEmpty) return { hits: [], pendingFrom: text.length };
    const skeleton = skeletonOf(text);
    const units = skeleton.text;
    const hits: BlocklistHit[] = [];
    let node = 0;
    for (let i = 0; i < units.length && hits.length < MAX_HITS; i++) {
      if (skeleton.breakBefore[i]) node = 0;
      node = this.step(node, units[i]!);
      let at = this.entries[node]!.length > 0 ? node : this.outputLink[node]!;
      for (; at > 0 && hits.length < MAX_HITS; at = this.outputLink[at]!) {
        for (const entry of this.entries[at]!) {
          const first = i - entry.length + 1;
          if (!this.isWholeWord(skeleton, first, i + 1, options.final)) continue;
          hits.push({ blocklist: entry.blocklist, item: entry.item, start: skeleton.starts[first]!, end: skeleton.ends[i]! });
        }
      }
    }
    const pendingUnits = this.depth[node]!;
    const pendingFrom = pendingUnits > 0 && units.length > 0 ? skeleton.starts[units.length - pendingUnits]! : text.length;
    return { hits, pendingFrom };
  }

  private isWholeWord(skeleton: Skeleton, first: number, end: number, final: boolean): boolean {
    const units = skeleton.text;
    if (first > 0 && !skeleton.boundaryBefore[first] && SPACED_SCRIPT.test(units[first]!) && SPACED_SCRIPT.test(units[first - 1]!))
      return false;
    if (end < units.length)
      return !!skeleton.boundaryBefore[end] || !SPACED_SCRIPT.test(units[end - 1]!) || !SPACED_SCRIPT.test(units[end]!);
    return final || skeleton.endsWithBoundary || !SPACED_SCRIPT.test(units[end - 1]!);
  }
}
