import { z } from 'zod';
import { errors, type GatewayError } from '../errors.js';
import type { Capability, Route, Team } from '../catalog/schemas.js';
import { readJsonBody } from '../http/read-json-body.js';
import type { GatewayRequest } from '../http/types.js';
import type { RequestFeature } from '../routing/request-features.js';
import { selectTargets, type RequestEstimate, type RoutingDecision } from '../routing/select-targets.js';
import { chatPromptTokensAtMost, countChatPromptTokens, countTextTokens, textTokensAtMost } from '../usage/count-tokens.js';
import type { DemandEstimates, RequestDemand } from '../limits/worst-case.js';
import type { GatewayDeps } from './gateway-deps.js';

const message = z.looseObject({
  role: z.string().min(1).max(64),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
  name: z.string().max(256).optional(),
});

/** Most tokens one answer may ask for: above every model's output window, so it only refuses the absurd. */
export const MAX_COMPLETION_TOKENS = 1_000_000;
/** Most choices (`n`) one request may ask for, as OpenAI allows. */
export const MAX_CHOICES = 128;

const countFrom1To = (max: number, why: string) =>
  z.number().int('must be an integer').min(1, 'must be at least 1').max(max, `must be at most ${max} (${why})`);
const tokenLimit = countFrom1To(MAX_COMPLETION_TOKENS, "Switchyard's bound on the tokens one answer may ask for");

export const chatRequestSchema = z.looseObject({
  model: z.string().max(256).optional(),
  messages: z.array(message).min(1, 'messages must hold at least one message').max(10_000),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: tokenLimit.nullable().optional(),
  max_completion_tokens: tokenLimit.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: countFrom1To(MAX_CHOICES, 'as OpenAI allows').nullable().optional(),
  user: z.string().max(512).optional(),
});
export type ChatRequest = z.output<typeof chatRequestSchema>;

const tokenArray = z.array(z.number().int().min(0));
export const embeddingsRequestSchema = z.looseObject({
  model: z.string().max(256).optional(),
  input: z.union([
    z.string().min(1, 'input must not be empty'),
    z.array(z.string()).min(1, 'input must not be empty').max(2048),
    tokenArray.min(1, 'input must not be empty'),
    z.array(tokenArray.min(1)).min(1, 'input must not be empty').max(2048),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).max(65_536).optional(),
  user: z.string().max(512).optional(),
});
export type EmbeddingsRequest = z.output<typeof embeddingsRequestSchema>;

/** Reads the body and checks it against a schema, naming the first offending field. */
export async function parseBody<T extends z.ZodType>(request: GatewayRequest, schema: T, deps: GatewayDeps): Promise<z.output<T>> {
  const raw = await readJsonBody(request.body, {
    maxBytes: deps.limits.maxBodyBytes,
    contentLength: request.headers.get('content-length'),
    contentType: request.headers.get('content-type'),
  });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw errors.invalidRequest('The request body must be a JSON object.');
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String).join('.');
    throw errors.invalidRequest(path ? `Invalid '${path}': ${issue.message}` : issue.message, path || null);
  }
  return parsed.data;
}

/** A chat request's size for routing: its prompt as counted, and the cap on its answer when it sets one. */
export function chatEstimate(body: Pick<ChatRequest, 'messages' | 'max_tokens' | 'max_completion_tokens'>): () => RequestEstimate {
  return () => {
    const estimate: RequestEstimate = { promptTokens: countChatPromptTokens(body.messages) };
    const cap = body.max_completion_tokens ?? body.max_tokens;
    if (cap != null) estimate.maxOutputTokens = cap;
    return estimate;
  };
}

/** What a chat request may use at most, for its team's budget and rate limits: its prompt and every answer's cap. */
export function chatDemand(body: ChatRequest): DemandEstimates {
  // Tool and output schemas are prompt the upstream charges for: counted as their JSON text, longer than most renderings.
  const schemasText = () => {
    const schemas = [body.tools, body.functions, body.response_format].filter((s) => s != null);
    return schemas.length > 0 ? JSON.stringify(schemas) : '';
  };
  const demand = (promptTokens: number): RequestDemand => {
    const cap = body.max_completion_tokens ?? body.max_tokens;
    return { promptTokens, choices: body.n ?? 1, ...(cap != null ? { maxOutputTokens: cap } : {}) };
  };
  return {
    atMost: () => demand(chatPromptTokensAtMost(body.messages) + textTokensAtMost(schemasText())),
    counted: () => demand(countChatPromptTokens(body.messages) + countTextTokens(schemasText())),
  };
}

/** The route for an alias the team may use: 404 when no such model, 403 when not the team's. */
export function resolveAlias(alias: string | undefined, team: Team, deps: GatewayDeps): Route {
  if (!alias) throw errors.invalidRequest('You must provide a model parameter.', 'model');
  const route = deps.catalog.current().routes.get(alias);
  if (!route) throw errors.modelNotFound(alias);
  if (!team.aliases.includes(alias)) throw errors.modelNotAllowed(alias);
  return route;
}

/** What routing reads of a request beyond its alias: who, what features, how big (counted only when needed), streamed. */
export interface RequestFacts {
  user?: string | undefined;
  features?: readonly RequestFeature[];
  estimate?: () => RequestEstimate;
  stream?: boolean;
}

/** The routing decision for a request, refusing what no deployment may or can serve. */
export function decideTargets(
  route: Route,
  team: Team,
  capability: Capability,
  deps: GatewayDeps,
  facts: RequestFacts = {},
): RoutingDecision {
  const decision = routingDecision(route, team, capability, deps, facts);
  // A request that found a deployment full is demand its lease did not meet: the next sync asks for more.
  for (const id of decision.saturated) deps.health.noteSaturated(id);
  const refusal = refusalOf(decision, route, team, capability);
  if (refusal) throw refusal;
  return decision;
}

/** What routing decides for a request now, from the live catalog and health, refusing nothing. */
export function routingDecision(
  route: Route,
  team: Team,
  capability: Capability,
  deps: GatewayDeps,
  facts: RequestFacts = {},
): RoutingDecision {
  // Counting a prompt's tokens is real work on a long prompt: only a route that reads the count pays it.
  const needsEstimate = route.strategy === 'cheapest' || route.rules.some((r) => r.when.minPromptTokens !== undefined);
  return selectTargets({
    ...(needsEstimate && facts.estimate ? { estimate: facts.estimate() } : {}),
    route,
    team,
    capability,
    features: facts.features ?? [],
    user: facts.user,
    stream: facts.stream ?? false,
    deployments: deps.catalog.current().deployments,
    health: deps.health,
    nowMs: deps.now(),
    random: deps.random,
  });
}

/** The error a request gets for a decision that no deployment may or can serve it; undefined when one can. */
export function refusalOf(decision: RoutingDecision, route: Route, team: Team, capability: Capability): GatewayError | undefined {
  if (decision.refusedByRule) return errors.forbidden(`A routing rule allows no deployment of '${route.alias}' for team '${team.id}'.`);
  if (decision.candidates.length === 0 && decision.considered.every((c) => c.reason === `does not serve ${capability}`)) {
    return errors.invalidRequest(`The model '${route.alias}' does not serve ${capability}.`, 'model');
  }
  // Never a 200 with a feature ignored: a request no deployment can honour is the caller's to change.
  if (decision.unsupported) return errors.unsupportedFeature(route.alias, decision.unsupported.feature, decision.unsupported.param);
  if (decision.candidates.length === 0 && decision.saturated.length > 0) {
    // How long an in-flight request holds its slot is unknown here; a second is the shortest useful wait.
    return errors.capacityExceeded(`Every deployment of the model '${route.alias}' is at capacity. Retry shortly.`, 1);
  }
  return undefined;
}
