// The pure half of `npm run chaos`: what a caller saw, read from an answer, and whether it broke a promise.

/** The 5xx codes the product documents; any other 5xx is a loss. */
export const DOCUMENTED_5XX: Record<number, readonly string[]> = {
  502: ['upstream_error'],
  503: ['no_deployment_available', 'store_unavailable', 'safety_unavailable', 'credentials_unavailable'],
  504: ['upstream_timeout'],
};

/** How an answer ended, as the caller saw it. */
export type Ending = 'whole' | 'done' | 'error-event' | 'cut';

export interface Seen {
  status: number;
  code?: string;
  ending: Ending;
  /** The Retry-After the caller was given, in seconds. */
  retryAfter?: string;
}

export interface ScenarioResult {
  name: string;
  /** What the upstream (or the store, or Content Safety) did. */
  fault: string;
  seen: Seen[];
  /** Requests the ledger holds for the scenario, after the fault; undefined where no record is promised (store down). */
  recorded?: number;
  /** Problems that break a promise; empty when none. */
  losses: string[];
}

/** Reads an answer's body: a whole JSON answer or error, or an SSE stream and how it ended. */
export function seenOf(status: number, contentType: string, body: string, transportCut: boolean): Seen {
  if (!contentType.includes('text/event-stream')) {
    const code = errorCodeOf(body);
    return { status, ending: transportCut ? 'cut' : 'whole', ...(code ? { code } : {}) };
  }
  const events = body
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim());
  const last = events.at(-1);
  if (last === '[DONE]') return { status, ending: 'done' };
  const code = last === undefined ? undefined : errorCodeOf(last);
  if (code) return { status, code, ending: 'error-event' };
  return { status, ending: 'cut' };
}

function errorCodeOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
  } catch {
    return undefined;
  }
}

export interface Promises {
  /** The upstream broke the answer: a clean end would hide it. */
  brokenAnswer?: boolean;
  /** The gateway itself goes away mid-answer, so a dropped connection is what the caller must see. */
  gatewayDies?: boolean;
}

/** The promises an outcome breaks: an undocumented 5xx, a broken answer that ends clean, fewer records than answers. */
export function lossesOf(seen: readonly Seen[], recorded: number | undefined, promises: Promises): string[] {
  const losses: string[] = [];
  for (const one of seen) {
    if (one.status >= 500 && !DOCUMENTED_5XX[one.status]?.includes(one.code ?? '')) {
      losses.push(`${one.status} without a documented code (${one.code ?? 'none'})`);
    }
    if (promises.brokenAnswer && one.status === 200 && one.ending === 'done') losses.push('a broken stream ended with a clean [DONE]');
    if (one.status === 0 && !promises.gatewayDies) losses.push('no answer (the connection dropped or hung)');
    if (promises.gatewayDies && one.ending === 'done') losses.push('a stream whose gateway died ended with a clean [DONE]');
  }
  const answered = seen.filter((one) => one.ending !== 'cut').length;
  if (recorded !== undefined && recorded < answered) losses.push(`${answered - recorded} answered request(s) missing from the ledger`);
  return losses;
}

/** The table `npm run chaos` prints. */
export function chaosTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => [
    r.name,
    r.fault,
    summarise(r.seen),
    r.recorded === undefined ? 'n/a' : `${r.recorded}/${r.seen.length}`,
    r.losses.length === 0 ? 'nothing' : r.losses.join('; '),
  ]);
  const header = ['scenario', 'fault', 'caller saw', 'ledger (records/requests)', 'lost'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function summarise(seen: readonly Seen[]): string {
  const groups = new Map<string, { count: number; retryAfters: string[] }>();
  for (const one of seen) {
    const key = `${one.status}${one.code ? ` ${one.code}` : ''} ${one.ending}`;
    const group = groups.get(key) ?? { count: 0, retryAfters: [] };
    group.count += 1;
    if (one.retryAfter) group.retryAfters.push(one.retryAfter);
    groups.set(key, group);
  }
  return [...groups]
    .map(([key, { count, retryAfters }]) => {
      const retry = retryAfters.length > 0 ? ` (Retry-After ${[...new Set(retryAfters)].join(', ')})` : '';
      return `${count > 1 ? `${count}× ` : ''}${key}${retry}`;
    })
    .join(', ');
}
