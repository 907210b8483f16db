import type { SafetyRecord } from '../usage/usage-record.js';
import type { SafetyVerdict } from './screen.js';

const ACTION_RANK = { allow: 0, mask: 1, block: 2 } as const;
const FINDING_RANK = { clean: 0, mask: 1, block: 2 } as const;

/** One record from the prompt's verdict and the answer's (one per choice, or one per stream window), and a cost not billed. */
export function safetyRecord(
  prompt: SafetyVerdict | undefined,
  answer: readonly SafetyVerdict[],
  unbilledCost?: SafetyRecord['unbilledCost'],
): SafetyRecord | undefined {
  const all = [
    ...(prompt ? [{ on: 'prompt' as const, verdict: prompt }] : []),
    ...answer.map((verdict) => ({ on: 'answer' as const, verdict })),
  ];
  if (all.length === 0) return undefined;
  const record: SafetyRecord = {
    mode: all[0]!.verdict.mode,
    action: 'allow',
    finding: 'clean',
    severities: {},
    billableRecords: 0,
    safetyMs: 0,
    ...(unbilledCost ? { unbilledCost } : {}),
  };
  for (const { on, verdict } of all) {
    if (ACTION_RANK[verdict.action] > ACTION_RANK[record.action]) record.action = verdict.action;
    if (FINDING_RANK[verdict.finding] > FINDING_RANK[record.finding]) record.finding = verdict.finding;
    if (!record.flagged && verdict.finding === 'block' && verdict.layer) record.flagged = { on, layer: verdict.layer };
    for (const [category, value] of Object.entries(verdict.categories) as Array<[keyof SafetyVerdict['categories'], { severity: number }]>)
      record.severities[category] = Math.max(record.severities[category] ?? 0, value.severity);
    if (verdict.reachable !== undefined) record.reachable = (record.reachable ?? true) && verdict.reachable;
    record.billableRecords += verdict.billableRecords;
    record.safetyMs += verdict.latencies.localMs + (verdict.latencies.remoteMs ?? 0);
  }
  return record;
}
