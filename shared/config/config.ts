import { z } from 'zod';
import { allocationBases, type AllocationSettings } from '../allocation/allocate-hour.js';
import { isReservedSetting } from '../catalog/upstream-secrets.js';
import type { BreakerSettings } from '../routing/circuit-breaker.js';

const DEFAULT_ALLOWED_HOSTS = ['*.openai.azure.com', '*.services.ai.azure.com', '*.models.ai.azure.com', '*.inference.ml.azure.com'];

const csv = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(7071),
  HOST: z.string().min(1).default('127.0.0.1'),
  COSMOS_ENDPOINT: z.url().optional(),
  COSMOS_KEY: z.string().min(1).optional(),
  COSMOS_DATABASE: z.string().min(1).default('switchyard'),
  SWITCHYARD_MODE: z.enum(['local', 'azure']).optional(),
  SWITCHYARD_DATA_DIR: z.string().min(1).default('.switchyard'),
  SWITCHYARD_DEMO_KEY: z.string().min(16).optional(),
  SWITCHYARD_ADMIN_KEY: z.string().min(16).optional(),
  SWITCHYARD_SIMULATORS: z.enum(['on', 'off']).optional(),
  SWITCHYARD_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  SWITCHYARD_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(120_000),
  SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
  SWITCHYARD_STREAM_DEADLINE_MS: z.coerce.number().int().positive().default(600_000),
  SWITCHYARD_MAX_BUFFERED_ANSWER_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  SWITCHYARD_CATALOG_REFRESH_MS: z.coerce.number().int().positive().max(5_000).default(2_000),
  SWITCHYARD_LEDGER_FLUSH_MS: z.coerce.number().int().positive().default(1_000),
  SWITCHYARD_LEDGER_DURABLE_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
  SWITCHYARD_LEDGER_SWEEP_MS: z.coerce.number().int().min(100).default(300_000),
  SWITCHYARD_LEDGER_SWEEP_GRACE_MS: z.coerce.number().int().min(0).optional(),
  SWITCHYARD_LEDGER_SWEEP_LOOKBACK_MS: z.coerce.number().int().positive().default(3_600_000),
  SWITCHYARD_SHUTDOWN_FLUSH_MS: z.coerce.number().int().min(0).default(10_000),
  SWITCHYARD_SHUTDOWN_DEADLINE_MS: z.coerce.number().int().positive().default(15_000),
  SWITCHYARD_REQUEST_RECEIVE_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  SWITCHYARD_MAX_COOLDOWN_MS: z.coerce.number().int().positive().default(300_000),
  SWITCHYARD_SHADOW_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1_000).default(16),
  SWITCHYARD_SHADOW_TIMEOUT_MS: z.coerce.number().int().positive().max(600_000).default(60_000),
  SWITCHYARD_LIVE_SYNC_MS: z.coerce.number().int().min(50).max(5_000).default(1_000),
  SWITCHYARD_LIVE_LEASE_TTL_MS: z.coerce.number().int().positive().default(10_000),
  SWITCHYARD_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  SWITCHYARD_BREAKER_ERROR_RATE: z.coerce.number().gt(0).max(1).default(0.5),
  SWITCHYARD_BREAKER_MIN_REQUESTS: z.coerce.number().int().min(1).default(20),
  SWITCHYARD_BREAKER_WINDOW_MS: z.coerce.number().int().positive().default(60_000),
  SWITCHYARD_BREAKER_OPEN_MS: z.coerce.number().int().positive().default(30_000),
  SWITCHYARD_ALLOWED_HOSTS: csv.optional(),
  SWITCHYARD_UPSTREAM_SECRET_SETTINGS: csv
    .pipe(
      z.array(
        z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'list app setting names')
          .refine((name) => !isReservedSetting(name), "lists one of Switchyard's own settings"),
      ),
    )
    .default([]),
  SWITCHYARD_SIM_LATENCY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  SWITCHYARD_SIM_TTFT_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  SWITCHYARD_SIM_TOKENS_PER_SECOND: z.coerce.number().min(0).max(100_000).default(0),
  SWITCHYARD_SIM_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  CONTENT_SAFETY_ENDPOINT: z.url().optional(),
  CONTENT_SAFETY_KEY: z.string().min(1).optional(),
  SWITCHYARD_SAFETY_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(5_000),
  // Azure's list price of the Standard tier (text:analyze and Prompt Shields alike); a decimal string, so it stays exact.
  SWITCHYARD_SAFETY_USD_PER_1000_RECORDS: z
    .string()
    .regex(/^\d{1,4}(\.\d{1,9})?$/, 'a price in USD per 1,000 text records, e.g. 0.38 (at most 9 decimals)')
    .default('0.38'),
  SWITCHYARD_ALLOCATION_BASIS: z.enum(allocationBases).default('tokens'),
  SWITCHYARD_TIMERS: z.enum(['on', 'off']).default('on'),
  SWITCHYARD_ALLOCATION_LOOKBACK_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 62)
    .default(48),
});

export type Mode = 'local' | 'azure';

export interface Config {
  mode: Mode;
  port: number;
  host: string;
  cosmos: { endpoint?: string; key?: string; database: string };
  dataDir: string;
  demoKey?: string;
  adminKey?: string;
  simulators: boolean;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  firstByteTimeoutMs: number;
  /** Longest a streamed answer may take from the request's first upstream attempt to its end. */
  streamDeadlineMs: number;
  /** Bytes of non-streamed answers this process may hold at once, across all requests. */
  maxBufferedAnswerBytes: number;
  catalogRefreshMs: number;
  ledgerFlushMs: number;
  /** Longest an answer waits for its usage record to be durable (0: answers do not wait). */
  ledgerDurableWaitMs: number;
  /** The rollup sweep (rollup-sweep.ts): how often, how long a writer's newest seq is left to it, how far back. */
  ledgerSweep: { intervalMs: number; graceMs: number; lookbackMs: number };
  /** How long shutdown keeps trying to write buffered usage. */
  shutdownFlushMs: number;
  /** Local mode: the longest a shutdown takes; requests still running when only shutdownFlushMs is left are aborted. */
  shutdownDeadlineMs: number;
  /** Local mode: how long a caller has to send a whole request, headers and body. */
  requestReceiveTimeoutMs: number;
  /** Cap on the cool-down an upstream's Retry-After imposes on a deployment. */
  maxCooldownMs: number;
  /** Shadow copies: how many one instance runs at once (more are skipped), and each one's deadline. */
  shadow: { maxInFlight: number; timeoutMs: number };
  /** Deployment health shared across instances: how often it syncs, and how long an unrenewed entry counts. */
  live: { syncMs: number; leaseTtlMs: number };
  /** When a deployment's circuit breaker opens; its open period grows on each reopening up to maxCooldownMs. */
  breaker: BreakerSettings;
  allowedHosts: string[];
  /** App settings a deployment may name as its key besides those starting with UPSTREAM_. */
  upstreamSecretSettings: string[];
  /** How the simulated deployments of local mode behave. */
  simulator: { latencyMs: number; timeToFirstTokenMs: number; tokensPerSecond: number; failureRate: number };
  /** Azure AI Content Safety: its endpoint (none: not configured), a key where the resource allows one (else Entra ID), and how long one screening may take. */
  /** picoUsdPerTextRecord: SWITCHYARD_SAFETY_USD_PER_1000_RECORDS per record, exactly (whole pico-dollars). */
  contentSafety: { endpoint: string | undefined; key: string | undefined; timeoutMs: number; picoUsdPerTextRecord: number };
  /** Managed compute allocated by the hour: what a team's share is measured by, and how far back late usage re-opens hours. */
  allocation: AllocationSettings;
  /** Local mode: whether the local host runs the timer functions (tests turn them off to keep the clock out of their sums). */
  timers: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment once into a typed Config; throws a ConfigError naming each bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  // Without a Cosmos account Switchyard can only run locally, on the embedded store.
  const mode: Mode = e.SWITCHYARD_MODE ?? (e.COSMOS_ENDPOINT ? 'azure' : 'local');
  if (mode === 'azure' && !e.COSMOS_ENDPOINT) {
    throw new ConfigError('Invalid configuration:\n  COSMOS_ENDPOINT: required when SWITCHYARD_MODE is azure');
  }
  // A lease must outlive a few syncs, or a slow tick would expire instances that are alive.
  if (e.SWITCHYARD_LIVE_LEASE_TTL_MS < 4 * e.SWITCHYARD_LIVE_SYNC_MS) {
    throw new ConfigError('Invalid configuration:\n  SWITCHYARD_LIVE_LEASE_TTL_MS: must be at least 4 × SWITCHYARD_LIVE_SYNC_MS');
  }
  // A live ledger closes its newest rollup seq at every flush: the sweep may only take a seq that has stood
  // untouched for several flushes, or it could roll up part of a seq a live writer is still adding to.
  const sweepGraceMs = e.SWITCHYARD_LEDGER_SWEEP_GRACE_MS ?? Math.max(120_000, 5 * e.SWITCHYARD_LEDGER_FLUSH_MS);
  if (sweepGraceMs < 5 * e.SWITCHYARD_LEDGER_FLUSH_MS) {
    throw new ConfigError('Invalid configuration:\n  SWITCHYARD_LEDGER_SWEEP_GRACE_MS: must be at least 5 × SWITCHYARD_LEDGER_FLUSH_MS');
  }
  // The ledger flush runs inside the deadline, after in-flight requests: it needs room left to run.
  if (mode === 'local' && e.SWITCHYARD_SHUTDOWN_FLUSH_MS >= e.SWITCHYARD_SHUTDOWN_DEADLINE_MS) {
    throw new ConfigError('Invalid configuration:\n  SWITCHYARD_SHUTDOWN_DEADLINE_MS: must be greater than SWITCHYARD_SHUTDOWN_FLUSH_MS');
  }
  return {
    mode,
    port: e.PORT,
    host: e.HOST,
    cosmos: { endpoint: e.COSMOS_ENDPOINT, key: e.COSMOS_KEY, database: e.COSMOS_DATABASE },
    dataDir: e.SWITCHYARD_DATA_DIR,
    demoKey: e.SWITCHYARD_DEMO_KEY,
    adminKey: e.SWITCHYARD_ADMIN_KEY,
    simulators: (e.SWITCHYARD_SIMULATORS ?? (mode === 'local' ? 'on' : 'off')) === 'on',
    maxBodyBytes: e.SWITCHYARD_MAX_BODY_BYTES,
    upstreamTimeoutMs: e.SWITCHYARD_UPSTREAM_TIMEOUT_MS,
    firstByteTimeoutMs: e.SWITCHYARD_FIRST_BYTE_TIMEOUT_MS,
    streamDeadlineMs: e.SWITCHYARD_STREAM_DEADLINE_MS,
    maxBufferedAnswerBytes: e.SWITCHYARD_MAX_BUFFERED_ANSWER_BYTES,
    catalogRefreshMs: e.SWITCHYARD_CATALOG_REFRESH_MS,
    ledgerFlushMs: e.SWITCHYARD_LEDGER_FLUSH_MS,
    ledgerDurableWaitMs: e.SWITCHYARD_LEDGER_DURABLE_WAIT_MS,
    ledgerSweep: {
      intervalMs: e.SWITCHYARD_LEDGER_SWEEP_MS,
      graceMs: sweepGraceMs,
      lookbackMs: e.SWITCHYARD_LEDGER_SWEEP_LOOKBACK_MS,
    },
    shutdownFlushMs: e.SWITCHYARD_SHUTDOWN_FLUSH_MS,
    shutdownDeadlineMs: e.SWITCHYARD_SHUTDOWN_DEADLINE_MS,
    requestReceiveTimeoutMs: e.SWITCHYARD_REQUEST_RECEIVE_TIMEOUT_MS,
    maxCooldownMs: e.SWITCHYARD_MAX_COOLDOWN_MS,
    shadow: { maxInFlight: e.SWITCHYARD_SHADOW_MAX_IN_FLIGHT, timeoutMs: e.SWITCHYARD_SHADOW_TIMEOUT_MS },
    live: { syncMs: e.SWITCHYARD_LIVE_SYNC_MS, leaseTtlMs: e.SWITCHYARD_LIVE_LEASE_TTL_MS },
    breaker: {
      consecutiveFailures: e.SWITCHYARD_BREAKER_FAILURES,
      errorRate: e.SWITCHYARD_BREAKER_ERROR_RATE,
      minAttempts: e.SWITCHYARD_BREAKER_MIN_REQUESTS,
      windowMs: e.SWITCHYARD_BREAKER_WINDOW_MS,
      openMs: e.SWITCHYARD_BREAKER_OPEN_MS,
      maxOpenMs: Math.max(e.SWITCHYARD_BREAKER_OPEN_MS, e.SWITCHYARD_MAX_COOLDOWN_MS),
    },
    allowedHosts: e.SWITCHYARD_ALLOWED_HOSTS ?? DEFAULT_ALLOWED_HOSTS,
    upstreamSecretSettings: e.SWITCHYARD_UPSTREAM_SECRET_SETTINGS,
    simulator: {
      latencyMs: e.SWITCHYARD_SIM_LATENCY_MS,
      timeToFirstTokenMs: e.SWITCHYARD_SIM_TTFT_MS,
      tokensPerSecond: e.SWITCHYARD_SIM_TOKENS_PER_SECOND,
      failureRate: e.SWITCHYARD_SIM_FAILURE_RATE,
    },
    contentSafety: {
      endpoint: e.CONTENT_SAFETY_ENDPOINT,
      key: e.CONTENT_SAFETY_KEY,
      timeoutMs: e.SWITCHYARD_SAFETY_TIMEOUT_MS,
      picoUsdPerTextRecord: picoUsdPerTextRecord(e.SWITCHYARD_SAFETY_USD_PER_1000_RECORDS),
    },
    allocation: { basis: e.SWITCHYARD_ALLOCATION_BASIS, lookbackHours: e.SWITCHYARD_ALLOCATION_LOOKBACK_HOURS },
    timers: e.SWITCHYARD_TIMERS === 'on',
  };
}

/** $X per 1,000 records is X·10^9 pico-dollars per record: exact for up to 9 decimals, read from the digits. */
function picoUsdPerTextRecord(usdPer1000: string): number {
  const [whole, fraction = ''] = usdPer1000.split('.');
  return Number(whole) * 1_000_000_000 + Number(fraction.padEnd(9, '0'));
}
