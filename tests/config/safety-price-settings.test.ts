import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.js';

describe('SWITCHYARD_SAFETY_USD_PER_1000_RECORDS', () => {
  it("defaults to Azure's list price, $0.38 per 1,000 text records: 380 micro-dollars a record", () => {
    expect(loadConfig({}).contentSafety.picoUsdPerTextRecord).toBe(380_000_000);
  });

  it('reads the decimal digits exactly, to the pico-dollar', () => {
    const price = (value: string) => loadConfig({ SWITCHYARD_SAFETY_USD_PER_1000_RECORDS: value }).contentSafety.picoUsdPerTextRecord;
    expect(price('0')).toBe(0);
    expect(price('1.5')).toBe(1_500_000_000);
    expect(price('0.000000001')).toBe(1);
    expect(price('0.3')).toBe(300_000_000);
    expect(price('9999.999999999')).toBe(9_999_999_999_999);
  });

  it('refuses what is not a price, naming the setting', () => {
    for (const value of ['-1', 'abc', '0.0000000001', '1e3', '10000'])
      expect(() => loadConfig({ SWITCHYARD_SAFETY_USD_PER_1000_RECORDS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ SWITCHYARD_SAFETY_USD_PER_1000_RECORDS: 'x' })).toThrow(/SWITCHYARD_SAFETY_USD_PER_1000_RECORDS/);
  });
});
