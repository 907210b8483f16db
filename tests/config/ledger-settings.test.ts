import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.js';

describe('ledger settings', () => {
  it('default to a 2 s durable wait and a sweep every 5 min over the last hour, leaving a writer 2 min', () => {
    const config = loadConfig({});
    expect(config.ledgerDurableWaitMs).toBe(2_000);
    expect(config.ledgerSweep).toEqual({ intervalMs: 300_000, graceMs: 120_000, lookbackMs: 3_600_000 });
  });

  it('stretch the default grace to five flushes of a slow flush interval', () => {
    expect(loadConfig({ SWITCHYARD_LEDGER_FLUSH_MS: '100000' }).ledgerSweep.graceMs).toBe(500_000);
  });

  it('refuse a grace shorter than five flushes, naming the setting', () => {
    const env = { SWITCHYARD_LEDGER_FLUSH_MS: '1000', SWITCHYARD_LEDGER_SWEEP_GRACE_MS: '4999' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/SWITCHYARD_LEDGER_SWEEP_GRACE_MS: must be at least 5 × SWITCHYARD_LEDGER_FLUSH_MS/);
    expect(loadConfig({ ...env, SWITCHYARD_LEDGER_SWEEP_GRACE_MS: '5000' }).ledgerSweep.graceMs).toBe(5_000);
  });

  it('take 0 as an answer that does not wait for its record', () => {
    expect(loadConfig({ SWITCHYARD_LEDGER_DURABLE_WAIT_MS: '0' }).ledgerDurableWaitMs).toBe(0);
    expect(() => loadConfig({ SWITCHYARD_LEDGER_DURABLE_WAIT_MS: '-1' })).toThrow(/SWITCHYARD_LEDGER_DURABLE_WAIT_MS/);
  });
});
