import { describe, expect, it } from 'vitest';
import { parseTimerSchedule } from '../../local/timer-schedule.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('NCRONTAB timer schedules', () => {
  it('minute 5 of every hour', () => {
    const schedule = parseTimerSchedule('0 5 * * * *');
    expect(iso(schedule.next(at('2026-03-01T10:04:59.500Z')))).toBe('2026-03-01T10:05:00.000Z');
    expect(iso(schedule.next(at('2026-03-01T10:05:00.000Z')))).toBe('2026-03-01T11:05:00.000Z');
    expect(iso(schedule.next(at('2026-12-31T23:30:00.000Z')))).toBe('2027-01-01T00:05:00.000Z');
  });

  it('steps, ranges, lists and both day fields', () => {
    expect(iso(parseTimerSchedule('*/15 * * * * *').next(at('2026-03-01T10:00:14.000Z')))).toBe('2026-03-01T10:00:15.000Z');
    expect(iso(parseTimerSchedule('0 */5 * * * *').next(at('2026-03-01T10:01:00.000Z')))).toBe('2026-03-01T10:05:00.000Z');
    expect(iso(parseTimerSchedule('0 30 9-17/4 * * *').next(at('2026-03-01T10:00:00.000Z')))).toBe('2026-03-01T13:30:00.000Z');
    expect(iso(parseTimerSchedule('0 0 0 * * 1').next(at('2026-03-01T10:00:00.000Z')))).toBe('2026-03-02T00:00:00.000Z');
    expect(iso(parseTimerSchedule('0 0 0 1,15 * *').next(at('2026-03-02T00:00:00.000Z')))).toBe('2026-03-15T00:00:00.000Z');
    expect(iso(parseTimerSchedule('0 0 12 29 2 *').next(at('2026-03-01T00:00:00.000Z')))).toBe('2028-02-29T12:00:00.000Z');
  });

  it('refuses what it does not read, naming the field', () => {
    expect(() => parseTimerSchedule('0 5 * * *')).toThrow(/six NCRONTAB fields/);
    expect(() => parseTimerSchedule('0 61 * * * *')).toThrow(/minute field "61"/);
    expect(() => parseTimerSchedule('0 0 0 * Jan *')).toThrow(/month field "Jan"/);
  });
});
