import { errors } from '../errors.js';

/** An If-Match / If-None-Match value: any current document, or a list of entity tags as sent. */
export type EntityTags = '*' | ReadonlyArray<{ tag: string; weak: boolean }>;

export interface Preconditions {
  ifMatch?: EntityTags;
  ifNoneMatch?: EntityTags;
}

// RFC 9110 entity-tags are quoted; the bare form is accepted too, as the local store's ETags are bare.
const ENTITY_TAG = /\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*"|[\x21\x23-\x2b\x2d-\x7e]+)\s*(?:,|$)/y;

function parseEntityTags(value: string | null, header: string): EntityTags | undefined {
  if (value === null) return undefined;
  if (value.trim() === '*') return '*';
  const tags: Array<{ tag: string; weak: boolean }> = [];
  ENTITY_TAG.lastIndex = 0;
  while (ENTITY_TAG.lastIndex < value.length) {
    const match = ENTITY_TAG.exec(value);
    if (!match) throw errors.invalidRequest(`${header} must be '*' or a list of ETags.`, header);
    tags.push({ tag: match[2]!, weak: match[1] !== undefined });
  }
  if (tags.length === 0) throw errors.invalidRequest(`${header} must be '*' or a list of ETags.`, header);
  return tags;
}

/** The conditional headers of a request; 400 when one is malformed. */
export function readPreconditions(headers: Headers): Preconditions {
  return {
    ifMatch: parseEntityTags(headers.get('if-match'), 'If-Match'),
    ifNoneMatch: parseEntityTags(headers.get('if-none-match'), 'If-None-Match'),
  };
}

/**
 * Whether a write may proceed on the document whose ETag is `current` (undefined: no such document),
 * evaluated as RFC 9110 §13.2.2 orders it. If-Match compares strongly (a weak tag never matches);
 * If-None-Match weakly.
 */
export function preconditionsHold(preconditions: Preconditions, current: string | undefined): boolean {
  const { ifMatch, ifNoneMatch } = preconditions;
  if (ifMatch !== undefined) {
    if (current === undefined) return false;
    if (ifMatch !== '*' && !ifMatch.some((t) => !t.weak && t.tag === current)) return false;
  }
  if (ifNoneMatch !== undefined && current !== undefined) {
    if (ifNoneMatch === '*' || ifNoneMatch.some((t) => t.tag === current)) return false;
  }
  return true;
}

/**
 * The same preconditions as one condition the store checks atomically with the write, when there is one:
 * none, `*`, or a single strong ETag. Anything else (lists, weak tags, both headers) is undefined: read
 * the document, check preconditionsHold, then write on the ETag that was read.
 */
export function atomicCondition(preconditions: Preconditions): { ifMatch?: string; ifNoneMatch?: '*' } | undefined {
  const { ifMatch, ifNoneMatch } = preconditions;
  if (ifMatch === undefined && ifNoneMatch === undefined) return {};
  if (ifMatch !== undefined && ifNoneMatch !== undefined) return undefined;
  if (ifNoneMatch === '*') return { ifNoneMatch: '*' };
  if (ifMatch === '*') return { ifMatch: '*' };
  if (ifMatch !== undefined && ifMatch.length === 1 && !ifMatch[0]!.weak) return { ifMatch: ifMatch[0]!.tag };
  return undefined;
}
