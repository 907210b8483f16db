import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.js';

describe('managed compute allocation and timer settings', () => {
  it('default to tokens, a 48-hour lookback and timers on', () => {
    const config = loadConfig({});
    expect(config.allocation).toEqual({ basis: 'tokens', lookbackHours: 48 });
    expect(config.timers).toBe(true);
  });

  it('take requests or busy-time, a lookback of 1 to 1488 hours, and timers off', () => {
    const config = loadConfig({
      SWITCHYARD_ALLOCATION_BASIS: 'busy-time',
      SWITCHYARD_ALLOCATION_LOOKBACK_HOURS: '1488',
      SWITCHYARD_TIMERS: 'off',
    });
    expect(config.allocation).toEqual({ basis: 'busy-time', lookbackHours: 1488 });
    expect(config.timers).toBe(false);
    expect(loadConfig({ SWITCHYARD_ALLOCATION_BASIS: 'requests' }).allocation.basis).toBe('requests');
  });

  it('refuse another basis or lookback, naming the setting', () => {
    expect(() => loadConfig({ SWITCHYARD_ALLOCATION_BASIS: 'dollars' })).toThrow(ConfigError);
    expect(() => loadConfig({ SWITCHYARD_ALLOCATION_BASIS: 'dollars' })).toThrow(/SWITCHYARD_ALLOCATION_BASIS/);
    expect(() => loadConfig({ SWITCHYARD_ALLOCATION_LOOKBACK_HOURS: '0' })).toThrow(/SWITCHYARD_ALLOCATION_LOOKBACK_HOURS/);
    expect(() => loadConfig({ SWITCHYARD_TIMERS: 'maybe' })).toThrow(/SWITCHYARD_TIMERS/);
  });
});
