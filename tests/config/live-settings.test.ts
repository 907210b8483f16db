import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.js';

describe('live state and breaker settings', () => {
  it('default to a 1 s sync, a 10 s lease and a breaker of 5 failures or half of 20 in 60 s, open 30 s up to the cool-down cap', () => {
    const config = loadConfig({});
    expect(config.live).toEqual({ syncMs: 1_000, leaseTtlMs: 10_000 });
    expect(config.breaker).toEqual({
      consecutiveFailures: 5,
      errorRate: 0.5,
      minAttempts: 20,
      windowMs: 60_000,
      openMs: 30_000,
      maxOpenMs: 300_000,
    });
  });

  it('refuse a lease that would not outlive four syncs, naming the setting', () => {
    const env = { SWITCHYARD_LIVE_SYNC_MS: '1000', SWITCHYARD_LIVE_LEASE_TTL_MS: '3999' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/SWITCHYARD_LIVE_LEASE_TTL_MS: must be at least 4 × SWITCHYARD_LIVE_SYNC_MS/);
    expect(loadConfig({ ...env, SWITCHYARD_LIVE_LEASE_TTL_MS: '4000' }).live.leaseTtlMs).toBe(4_000);
  });

  it('refuse an error rate outside (0, 1] and a sync slower than 5 s', () => {
    expect(() => loadConfig({ SWITCHYARD_BREAKER_ERROR_RATE: '0' })).toThrow(/SWITCHYARD_BREAKER_ERROR_RATE/);
    expect(() => loadConfig({ SWITCHYARD_BREAKER_ERROR_RATE: '1.5' })).toThrow(/SWITCHYARD_BREAKER_ERROR_RATE/);
    expect(() => loadConfig({ SWITCHYARD_LIVE_SYNC_MS: '6000', SWITCHYARD_LIVE_LEASE_TTL_MS: '60000' })).toThrow(/SWITCHYARD_LIVE_SYNC_MS/);
  });

  it('never lets the breaker open for less than its first period when the cool-down cap is shorter', () => {
    expect(loadConfig({ SWITCHYARD_MAX_COOLDOWN_MS: '300', SWITCHYARD_BREAKER_OPEN_MS: '1000' }).breaker.maxOpenMs).toBe(1_000);
  });
});
