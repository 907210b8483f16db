import { z } from 'zod';
import { safetyProfileSchema } from '../safety/safety-profile.js';
import { featureNames } from '../upstreams/protocols/features.js';
import { operationsServed, protocolNames } from '../upstreams/protocols/index.js';
import { isExactPrice } from '../usage/pricing.js';

/** The id of a deployment, route (its alias) or team. */
export const idPattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** The id of a key: `key_` and base64url (generateKeyId). */
export const keyIdPattern = /^key_[A-Za-z0-9_-]{1,64}$/;
const id = (what: string) =>
  z.string().regex(idPattern, `${what} must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit`);
const tag = z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,62}$/, 'tags are 1-63 characters of a-z, 0-9, . _ : -');
const appSettingName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be the NAME of an app setting (letters, digits, _), never the secret itself');
const usd = z.number().finite().min(0).max(1_000_000);

export const deploymentKinds = ['serverless', 'managed'] as const;
export const protocols = protocolNames;
export const capabilities = ['chat', 'embeddings'] as const;
export type Capability = (typeof capabilities)[number];

const authSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('entra'), scope: z.url() }),
  z.strictObject({ type: z.literal('key'), secret: appSettingName }),
  z.strictObject({ type: z.literal('none') }),
]);

// At most 6 decimals: such a price is a whole number of pico-dollars per token, so every cost is exact.
const perMillionUsd = usd.refine(isExactPrice, 'a price per million tokens has at most 6 decimals');
// When a price takes effect (absent: in force since the deployment was created). Kept canonical (UTC, ms) so
// the price book compares them as strings.
const effectiveFrom = z.iso
  .datetime({ offset: true, message: 'effectiveFrom must be an ISO 8601 date-time' })
  .transform((value) => new Date(value).toISOString())
  .optional();
const serverlessPricing = z.strictObject({
  inputPerMillionUsd: perMillionUsd,
  outputPerMillionUsd: perMillionUsd,
  cachedInputPerMillionUsd: perMillionUsd.optional(),
  effectiveFrom,
});
const managedPricing = z.strictObject({ hourlyUsd: usd, instances: z.number().int().min(1).max(1000), effectiveFrom });
const deploymentPricing = z.union([serverlessPricing, managedPricing]);

// Headers Switchyard sets itself (credentials, framing, the request id) or that belong to one connection (hop-by-hop):
// an extra header may never replace them.
const reservedHeaders = new Set([
  'authorization',
  'api-key',
  'host',
  'cookie',
  'content-type',
  'content-length',
  'accept',
  'accept-encoding',
  'x-ms-client-request-id',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
// Visible ASCII and inner spaces only: no CR/LF to split a request, nothing a fetch would refuse.
const headerValue = z.string().regex(/^[\x21-\x7e]([\x20-\x7e]{0,510}[\x21-\x7e])?$/, 'a header value is 1-512 visible ASCII characters');

const upstreamHeaders = z.record(z.string(), headerValue).superRefine((headers, ctx) => {
  if (Object.keys(headers).length > 16) ctx.addIssue({ code: 'custom', path: [], message: 'at most 16 extra headers' });
  const seen = new Set<string>();
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (!headerName.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'a header name is 1-64 token characters (RFC 9110)' });
    } else if (lower === 'azureml-model-deployment') {
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `the header '${lower}' is set by Switchyard and cannot be configured (use upstream.amlDeployment)`,
      });
    } else if (reservedHeaders.has(lower)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `the header '${lower}' is set by Switchyard and cannot be configured` });
    } else if (seen.has(lower)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `the header '${lower}' is listed twice` });
    }
    seen.add(lower);
  }
});

/** Where a real endpoint differs from its protocol's usual wire; every switch left out keeps today's behaviour. */
const upstreamSwitches = z.strictObject({
  /** `false`: send no `stream_options` (the caller's are stripped too); a stream's usage is estimated by the tokenizer. */
  streamOptions: z.boolean().optional(),
  /** Fixed headers sent on every call to this deployment (e.g. Foundry's `extra-parameters: pass-through`). */
  headers: upstreamHeaders.optional(),
  /** The Azure ML deployment to pin with `azureml-model-deployment` (aml-score: defaults to `upstreamModel`). */
  amlDeployment: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,31}$/, 'an Azure ML deployment name is 1-32 letters, digits or -, starting with a letter')
    .optional(),
});

export const deploymentSchema = z
  .strictObject({
    id: id('id'),
    kind: z.enum(deploymentKinds),
    protocol: z.enum(protocols),
    endpoint: z.url({ message: 'endpoint must be an absolute URL' }),
    upstreamModel: z.string().min(1).max(256),
    apiVersion: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}(-preview)?$/)
      .optional(),
    serves: z.array(z.enum(capabilities)).min(1).default(['chat']),
    /** What it honours beyond plain chat; absent means its protocol's default (resolved when routing, so it follows the protocol). */
    features: z
      .array(z.enum(featureNames))
      .max(featureNames.length)
      .refine((list) => new Set(list).size === list.length, 'a feature is listed twice')
      .optional(),
    auth: authSchema,
    pricing: deploymentPricing,
    /** Earlier prices, oldest first: kept by the management API from the stored document (what a caller sends is replaced). */
    priceHistory: z.array(deploymentPricing).max(1000).optional(),
    capacity: z.strictObject({ maxConcurrent: z.number().int().min(1).max(100_000) }).optional(),
    region: z.string().min(1).max(64).optional(),
    tags: z.array(tag).max(32).default([]),
    enabled: z.boolean().default(true),
    upstream: upstreamSwitches.optional(),
    /** The Azure resource its charges are billed to (cost-details ResourceId), for POST /usage/reconcile/azure; else matched by endpoint host. */
    billing: z
      .strictObject({
        resourceId: z
          .string()
          .max(1024)
          .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/.+[^/]$/i, 'billing.resourceId must be an Azure resource id'),
      })
      .optional(),
  })
  .superRefine((d, ctx) => {
    const managed = 'hourlyUsd' in d.pricing;
    if (d.kind === 'managed' && !managed) {
      ctx.addIssue({ code: 'custom', path: ['pricing'], message: 'a managed deployment is priced as { hourlyUsd, instances }' });
    }
    if (d.kind === 'serverless' && managed) {
      ctx.addIssue({
        code: 'custom',
        path: ['pricing'],
        message: 'a serverless deployment is priced as { inputPerMillionUsd, outputPerMillionUsd }',
      });
    }
    const served = operationsServed(d.protocol);
    if (d.serves.some((operation) => !served.includes(operation))) {
      ctx.addIssue({ code: 'custom', path: ['serves'], message: `the ${d.protocol} protocol serves ${served.join(' and ')} only` });
    }
    if (d.upstream?.streamOptions !== undefined && d.protocol === 'aml-score') {
      ctx.addIssue({
        code: 'custom',
        path: ['upstream', 'streamOptions'],
        message: 'the aml-score protocol does not stream, so it sends no stream_options',
      });
    }
    if (d.upstream?.amlDeployment !== undefined && d.protocol === 'azure-openai') {
      ctx.addIssue({
        code: 'custom',
        path: ['upstream', 'amlDeployment'],
        message: 'an azure-openai endpoint has no Azure ML deployments',
      });
    }
  });
export type Deployment = z.output<typeof deploymentSchema>;
export type ServerlessPricing = z.output<typeof serverlessPricing>;
export type ManagedPricing = z.output<typeof managedPricing>;
export type DeploymentPricing = z.output<typeof deploymentPricing>;

/**
 * When a rule applies: every condition it names must hold (teams and teamTags together count as one: the team is
 * named or carries a tag). `features` holds when the request uses any of them; `userPattern` is a glob over the
 * request's `user` (`*` any run of characters), so no caller-facing regular expression can be made to backtrack.
 */
const ruleWhenSchema = z
  .strictObject({
    teams: z.array(id('team')).min(1).optional(),
    teamTags: z.array(tag).min(1).optional(),
    stream: z.boolean().optional(),
    minPromptTokens: z.number().int().min(0).max(100_000_000).optional(),
    features: z.array(z.enum(featureNames)).min(1).optional(),
    userPattern: z
      .string()
      .regex(/^[\x20-\x7e]{1,128}$/, 'a user pattern is 1-128 printable ASCII characters')
      .optional(),
  })
  .refine((w) => Object.values(w).some((v) => v !== undefined), 'a rule needs at least one condition in when');
export type RuleWhen = z.output<typeof ruleWhenSchema>;

const ruleSchema = z.strictObject({
  when: ruleWhenSchema,
  only: z.array(id('deployment')),
});

/** How a route orders its targets (PRODUCT.md `strategy`). */
export const routeStrategies = ['spillover', 'weighted', 'cheapest', 'fastest'] as const;

/** Bounds of a gradual shift's duration (`over`). */
export const MIN_SHIFT_MS = 10_000;
export const MAX_SHIFT_MS = 7 * 86_400_000;
export const MAX_SHIFT_STEPS = 1000;

/**
 * A gradual shift of a route's first choice to `to`: from `startedAt`, in `steps` equal steps over `overMs`.
 * `abortedAt` freezes the share reached then. `share` and `nextStepAt` are what a GET shows of its progress:
 * computed, so a document read and written back is accepted and they are dropped.
 */
export const routeShiftSchema = z
  .strictObject({
    to: id('deployment'),
    startedAt: z.iso.datetime({ offset: true }),
    overMs: z.number().int().min(MIN_SHIFT_MS).max(MAX_SHIFT_MS),
    steps: z.number().int().min(1).max(MAX_SHIFT_STEPS),
    abortedAt: z.iso.datetime({ offset: true }).optional(),
    share: z.number().optional(),
    nextStepAt: z.string().nullable().optional(),
  })
  .transform(({ share: _share, nextStepAt: _nextStepAt, ...stored }) => stored);
export type RouteShift = z.output<typeof routeShiftSchema>;

/** A share of the route's requests copied to a candidate deployment, answered to no one and billed to no team. */
export const routeShadowSchema = z.strictObject({
  deployment: id('deployment'),
  percent: z.number().gt(0, 'percent must be above 0').max(100, 'percent must be at most 100'),
});
export type RouteShadow = z.output<typeof routeShadowSchema>;

export const routeSchema = z
  .strictObject({
    alias: id('alias'),
    strategy: z.enum(routeStrategies).default('spillover'),
    targets: z
      .array(z.strictObject({ deployment: id('deployment'), weight: z.number().int().min(0).max(1_000_000).optional() }))
      .min(1)
      .max(32),
    rules: z.array(ruleSchema).max(32).default([]),
    shift: routeShiftSchema.optional(),
    shadow: routeShadowSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.shift && !r.targets.some((t) => t.deployment === r.shift?.to))
      ctx.addIssue({ code: 'custom', path: ['shift', 'to'], message: `'${r.shift.to}' must be one of the route's targets` });
    const seen = new Set<string>();
    r.targets.forEach((t, i) => {
      if (seen.has(t.deployment))
        ctx.addIssue({ code: 'custom', path: ['targets', i, 'deployment'], message: `'${t.deployment}' is listed twice` });
      seen.add(t.deployment);
      if (r.strategy === 'weighted' && t.weight === undefined) {
        ctx.addIssue({ code: 'custom', path: ['targets', i, 'weight'], message: 'a weighted route needs a weight on every target' });
      }
    });
  });
export type Route = z.output<typeof routeSchema>;

export const teamSchema = z.strictObject({
  id: id('id'),
  name: z.string().min(1).max(128),
  aliases: z.array(id('alias')).max(256).default([]),
  tags: z.array(tag).max(32).default([]),
  budget: teamBudgetSchema().optional(),
  limits: teamLimitsSchema().optional(),
  /** What is screened and how (shared/safety/safety-profile.ts); absent: nothing is screened. */
  safety: safetyProfileSchema.optional(),
});
export type Team = z.output<typeof teamSchema>;

/** A team's monthly spend: `hard` refuses what would pass it, `soft` only records crossing `alertAt` (a fraction) and 100%. */
function teamBudgetSchema() {
  return z.strictObject({
    monthlyUsd: z
      .number('monthlyUsd must be a number of US dollars')
      .finite()
      .min(0, 'monthlyUsd must not be negative')
      .max(1_000_000_000, 'monthlyUsd must be at most 1000000000'),
    enforce: z.enum(['hard', 'soft'], "enforce must be 'hard' or 'soft'"),
    alertAt: z.number().finite().gt(0, 'alertAt must be a fraction above 0').max(1, 'alertAt must be at most 1').default(0.8),
  });
}

/** Requests and tokens a team may use per minute, across every instance. */
function teamLimitsSchema() {
  const perMinute = (what: string) =>
    z
      .number(`${what} must be a number`)
      .int(`${what} must be an integer`)
      .min(1, `${what} must be at least 1 (leave it out for no limit)`)
      .max(1_000_000_000, `${what} must be at most 1000000000`);
  return z
    .strictObject({ rpm: perMinute('rpm').optional(), tpm: perMinute('tpm').optional() })
    .refine((l) => l.rpm !== undefined || l.tpm !== undefined, 'limits must name rpm, tpm or both');
}
export type TeamBudget = NonNullable<Team['budget']>;
export type TeamLimits = NonNullable<Team['limits']>;

export const roles = ['ops', 'finance', 'admin'] as const;
export type Role = (typeof roles)[number];

/** A stored API key: never the secret, only its SHA-256. It speaks for a team or holds a role. */
export const keyDocumentSchema = z
  .strictObject({
    id: z.string().regex(keyIdPattern, "a key id is 'key_' and base64url characters"),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    team: id('team').optional(),
    role: z.enum(roles).optional(),
    createdAt: z.iso.datetime({ offset: true }),
    /** After this instant the key answers 401, as an unknown key does. */
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    /** The setting (SWITCHYARD_ADMIN_KEY…) this key came from: a new value of the setting revokes it. */
    configuredBy: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,127}$/)
      .optional(),
  })
  .refine((k) => (k.team === undefined) !== (k.role === undefined), 'a key belongs to exactly one team or holds exactly one role');
export type StoredKey = z.output<typeof keyDocumentSchema>;
