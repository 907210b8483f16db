import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.js';

describe('shutdown and caller settings', () => {
  it('default to a 15 s shutdown deadline and 30 s to send a request', () => {
    const config = loadConfig({});
    expect(config.shutdownDeadlineMs).toBe(15_000);
    expect(config.requestReceiveTimeoutMs).toBe(30_000);
    expect(config.shutdownDeadlineMs).toBeGreaterThan(config.shutdownFlushMs);
  });

  it('refuse, in local mode, a deadline that leaves the ledger flush no room', () => {
    const env = { SWITCHYARD_SHUTDOWN_DEADLINE_MS: '5000', SWITCHYARD_SHUTDOWN_FLUSH_MS: '5000' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/SWITCHYARD_SHUTDOWN_DEADLINE_MS: must be greater than SWITCHYARD_SHUTDOWN_FLUSH_MS/);
    expect(loadConfig({ ...env, SWITCHYARD_SHUTDOWN_DEADLINE_MS: '5001' }).shutdownDeadlineMs).toBe(5001);
  });

  it('leave Azure mode alone: the Functions host there has its own shutdown', () => {
    const env = { COSMOS_ENDPOINT: 'https://account.documents.azure.com:443/', SWITCHYARD_SHUTDOWN_FLUSH_MS: '20000' };
    expect(loadConfig(env).shutdownFlushMs).toBe(20_000);
  });

  it('refuse a request timeout that is not a positive number of milliseconds', () => {
    expect(() => loadConfig({ SWITCHYARD_REQUEST_RECEIVE_TIMEOUT_MS: '0' })).toThrow(/SWITCHYARD_REQUEST_RECEIVE_TIMEOUT_MS/);
  });
});
