import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.js';

/** The ConfigError loadConfig throws for env; fails the test if it does not throw one. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

/** The settings a ConfigError message names, one per line. */
const named = (error: ConfigError) => [...new Set([...error.message.matchAll(/^ {2}([A-Z_]+)(?:\.\d+)?:/gm)].map((match) => match[1]))];

describe('configuration errors', () => {
  it('name every bad setting at once, one line each, and nothing that is fine', () => {
    const error = configError({
      PORT: '70000',
      SWITCHYARD_MODE: 'cloud',
      SWITCHYARD_CATALOG_REFRESH_MS: '6000',
      SWITCHYARD_MAX_BODY_BYTES: 'ten megabytes',
      SWITCHYARD_SIM_FAILURE_RATE: '1.5',
      SWITCHYARD_LEDGER_FLUSH_MS: '500',
    });
    expect(error.message.split('\n')[0]).toBe('Invalid configuration:');
    expect(named(error).sort()).toEqual([
      'PORT',
      'SWITCHYARD_CATALOG_REFRESH_MS',
      'SWITCHYARD_MAX_BODY_BYTES',
      'SWITCHYARD_MODE',
      'SWITCHYARD_SIM_FAILURE_RATE',
    ]);
  });

  it('never repeat the value of a setting, secret or not', () => {
    const values = {
      SWITCHYARD_ADMIN_KEY: 'adm1n-short',
      SWITCHYARD_DEMO_KEY: 'dem0-short',
      COSMOS_ENDPOINT: 'not a url but a s3cret',
      SWITCHYARD_UPSTREAM_SECRET_SETTINGS: 'SWITCHYARD_ADMIN_KEY,bad name!',
      SWITCHYARD_SIMULATORS: 'maybe-s3cret',
    };
    const error = configError(values);
    expect(named(error).sort()).toEqual(Object.keys(values).sort());
    for (const value of Object.values(values)) expect(error.message).not.toContain(value);
    expect(error.message).not.toMatch(/adm1n|dem0|s3cret|bad name/);
  });

  it('say why, in words a person can act on', () => {
    expect(configError({ SWITCHYARD_CATALOG_REFRESH_MS: '6000' }).message).toMatch(/SWITCHYARD_CATALOG_REFRESH_MS: .*5000/);
    expect(configError({ SWITCHYARD_UPSTREAM_SECRET_SETTINGS: 'COSMOS_KEY' }).message).toMatch(
      /SWITCHYARD_UPSTREAM_SECRET_SETTINGS\.0: lists one of Switchyard's own settings/,
    );
    expect(configError({ SWITCHYARD_MODE: 'azure' }).message).toBe(
      'Invalid configuration:\n  COSMOS_ENDPOINT: required when SWITCHYARD_MODE is azure',
    );
  });

  it('accept the documented defaults and limits', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      mode: 'local',
      port: 7071,
      host: '127.0.0.1',
      catalogRefreshMs: 2_000,
      ledgerFlushMs: 1_000,
      simulators: true,
    });
    // A change is in force on every instance within one refresh interval: 5 s at most is the product's promise.
    expect(loadConfig({ SWITCHYARD_CATALOG_REFRESH_MS: '5000' }).catalogRefreshMs).toBe(5_000);
    // An upstream's Retry-After cools a deployment down for 5 min at most unless SWITCHYARD_MAX_COOLDOWN_MS says otherwise.
    expect(config.maxCooldownMs).toBe(300_000);
    expect(loadConfig({ SWITCHYARD_MAX_COOLDOWN_MS: '60000' }).maxCooldownMs).toBe(60_000);
    expect(configError({ SWITCHYARD_MAX_COOLDOWN_MS: '0' }).message).toMatch(/SWITCHYARD_MAX_COOLDOWN_MS/);
    expect(loadConfig({ COSMOS_ENDPOINT: 'https://account.documents.azure.com:443/' })).toMatchObject({ mode: 'azure', simulators: false });
  });
});
