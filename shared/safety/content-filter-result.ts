import { errors, type GatewayError } from '../errors.js';
import type { CategoryKey, SafetyVerdict } from './screen.js';

/** Azure's severity names (AZURE.md §2.4) for Content Safety's 0-7. */
function severityName(severity: number): 'safe' | 'low' | 'medium' | 'high' {
  if (severity >= 6) return 'high';
  if (severity >= 4) return 'medium';
  if (severity >= 2) return 'low';
  return 'safe';
}

const AZURE_CATEGORY: Record<CategoryKey, string> = { hate: 'hate', sexual: 'sexual', violence: 'violence', selfHarm: 'self_harm' };

/**
 * A verdict in Azure OpenAI's `content_filter_result(s)` shape (AZURE.md §2.4-2.5): each screened category as
 * `{filtered, severity}`, Prompt Shields as `jailbreak` / `indirect_attack` `{filtered, detected}`, blocklist hits
 * as `custom_blocklists` `{filtered, details: [{filtered, id}]}`. Personal data, which Azure OpenAI does not
 * screen, is Switchyard's own `pii` `{filtered, detected}`. Never the text nor what was matched in it.
 */
export function contentFilterResult(verdict: SafetyVerdict): Record<string, unknown> {
  const enforced = verdict.action === 'block';
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(verdict.categories) as Array<[CategoryKey, { severity: number; filtered: boolean }]>) {
    result[AZURE_CATEGORY[key]] = { filtered: enforced && value.filtered, severity: severityName(value.severity) };
  }
  if (verdict.attacks) {
    result.jailbreak = { filtered: enforced && verdict.attacks.userPrompt, detected: verdict.attacks.userPrompt };
    result.indirect_attack = { filtered: enforced && verdict.attacks.documents, detected: verdict.attacks.documents };
  }
  if (verdict.blocklistHits.length > 0) {
    const names = [...new Set(verdict.blocklistHits.map((hit) => hit.blocklist))];
    result.custom_blocklists = { filtered: enforced, details: names.map((id) => ({ filtered: enforced, id })) };
  }
  const piiFound = Object.keys(verdict.pii).length > 0;
  if (piiFound) result.pii = { filtered: enforced && verdict.layer === 'pii', detected: true };
  return result;
}

/**
 * The error a blocked prompt answers: 400 `content_filter` with `innererror.content_filter_result` (AZURE.md
 * §2.5), or, when Content Safety could not screen it and the team fails closed, 503 `safety_unavailable`.
 */
export function promptRefusal(verdict: SafetyVerdict): GatewayError {
  if (verdict.layer === 'outage') return errors.safetyUnavailable();
  return errors.contentFilter(
    "The prompt was filtered by your team's content safety policy. Please modify your prompt and retry.",
    'prompt',
    contentFilterResult(verdict),
  );
}
