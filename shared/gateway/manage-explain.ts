import { z } from 'zod';
import { idPattern } from '../catalog/schemas.js';
import { errors, isGatewayError, type GatewayError } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../http/types.js';
import { chatRequestFeatures } from '../routing/request-features.js';
import type { Consideration } from '../routing/select-targets.js';
import { authenticateRole } from './authenticate.js';
import type { GatewayDeps } from './gateway-deps.js';
import { chatEstimate, chatRequestSchema, parseBody, refusalOf, resolveAlias, routingDecision } from './inference-request.js';

const explainSchema = z.strictObject({
  team: z.string().regex(idPattern, 'must be a team id'),
  // Explain names the alias it asks about; everything else is the chat request exactly as the team would send it.
  request: chatRequestSchema.extend({ model: z.string().min(1, 'must name the alias').max(256) }),
});

/** What explain answers: the decision a real request of the team would meet now. */
export interface Explanation {
  team: string;
  alias: string;
  strategy?: string;
  /** The features the request uses, each with the field that uses it. */
  features: Array<{ feature: string; param: string }>;
  /** The deployment tried first, or null when the request would be refused. */
  chosen: string | null;
  /** Deployments in the order they would be tried (failover follows this order). */
  candidates: string[];
  /** Every deployment of the alias, in the order routing looked at it, and why it was taken or skipped. */
  considered: Consideration[];
  /** The error the request itself would get, when it would be refused before reaching any deployment. */
  refused?: { status: number; type: string; code: string; param: string | null; message: string };
}

/**
 * POST /manage/explain: the routing decision for a team's chat request, from the same resolveAlias,
 * selectTargets and refusal rules a real request goes through. Sends nothing upstream, records no usage and
 * holds no in-flight slot; with a weighted route, the draw is a fresh one, like the next request's.
 */
export async function explain(request: GatewayRequest, deps: GatewayDeps): Promise<GatewayResponse> {
  authenticateRole(request.headers, deps, ['ops']);
  const body = await parseBody(request, explainSchema, deps);
  const team = deps.catalog.current().teams.get(body.team);
  if (!team) throw errors.notFound(`Team '${body.team}'`);
  const chat = body.request;
  const features = chatRequestFeatures(chat);
  const answer: Explanation = {
    team: team.id,
    alias: chat.model,
    strategy: undefined,
    features,
    chosen: null,
    candidates: [],
    considered: [],
  };
  try {
    const route = resolveAlias(chat.model, team, deps);
    answer.strategy = route.strategy;
    const decision = routingDecision(route, team, 'chat', deps, {
      user: chat.user,
      features,
      estimate: chatEstimate(chat),
      stream: chat.stream === true,
    });
    answer.considered = decision.considered;
    // With no candidate and no refusal (every deployment disabled), the real request is answered 503 before any attempt.
    const refusal =
      refusalOf(decision, route, team, 'chat') ??
      (decision.candidates.length === 0
        ? errors.noDeploymentAvailable('No deployment can serve this model right now: all are disabled, saturated or excluded.', 1)
        : undefined);
    if (refusal) answer.refused = refusedAs(refusal);
    else {
      answer.candidates = decision.candidates.map((d) => d.id);
      answer.chosen = answer.candidates[0] ?? null;
    }
  } catch (error) {
    // An unknown model (404) or one the team may not use (403) is the request's answer, not explain's.
    if (!isGatewayError(error)) throw error;
    answer.refused = refusedAs(error);
  }
  return { status: 200, headers: { 'content-type': 'application/json' }, jsonBody: answer };
}

function refusedAs(error: GatewayError): NonNullable<Explanation['refused']> {
  return { status: error.status, type: error.type, code: error.code, param: error.param ?? null, message: error.message };
}
