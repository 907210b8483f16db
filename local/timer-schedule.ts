// NCRONTAB as Azure Functions reads a timer's schedule: six fields, {second} {minute} {hour} {day} {month}
// {day-of-week}, in UTC (WEBSITE_TIME_ZONE is not honoured here). Each field takes `*`, a number, a range `a-b`,
// a step `*/n` or `a-b/n`, and comma lists of those; names (Jan, Mon) and TimeSpan schedules are refused at start-up
// rather than run differently from production.

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 6 },
];

export interface TimerSchedule {
  readonly expression: string;
  /** The first time strictly after `afterMs` (UTC) that the schedule names, in ms. */
  next(afterMs: number): number;
}

function parseField(text: string, spec: FieldSpec): ReadonlySet<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw new Error(`its ${spec.name} field "${text}" is not a number, range, step or list`);
    const [, whole, from, to, step] = match;
    let low = spec.min;
    let high = spec.max;
    if (whole !== '*') {
      low = Number(from);
      high = to === undefined ? (step === undefined ? low : spec.max) : Number(to);
    }
    const stride = step === undefined ? 1 : Number(step);
    // Day of week 7 is Sunday too, as in cron.
    const ceiling = spec.name === 'day-of-week' ? 7 : spec.max;
    if (low < spec.min || high > ceiling || low > high || stride < 1) {
      throw new Error(`its ${spec.name} field "${text}" is outside ${spec.min}-${spec.max}`);
    }
    for (let value = low; value <= high; value += stride) values.add(spec.name === 'day-of-week' ? value % 7 : value);
  }
  return values;
}

/** Parses a six-field NCRONTAB expression; throws naming the field it cannot read. */
export function parseTimerSchedule(expression: string): TimerSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new Error(`Timer schedule "${expression}": expected six NCRONTAB fields ({second} {minute} {hour} {day} {month} {day-of-week}).`);
  }
  let sets: ReadonlySet<number>[];
  try {
    sets = parts.map((part, i) => parseField(part, FIELDS[i]!));
  } catch (error) {
    throw new Error(`Timer schedule "${expression}": ${(error as Error).message}.`);
  }
  const [seconds, minutes, hours, days, months, weekdays] = sets as [
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
    ReadonlySet<number>,
  ];
  const anyDay = parts[3] === '*';
  const anyWeekday = parts[5] === '*';
  const dayMatches = (date: Date): boolean => {
    // As in cron: when both day fields are restricted, either may match.
    const byDay = days.has(date.getUTCDate());
    const byWeekday = weekdays.has(date.getUTCDay());
    if (anyDay && anyWeekday) return true;
    if (anyDay) return byWeekday;
    if (anyWeekday) return byDay;
    return byDay || byWeekday;
  };
  const sortedSeconds = [...seconds].sort((a, b) => a - b);
  return {
    expression,
    next(afterMs) {
      const start = Math.floor(afterMs / 1000) * 1000 + 1000;
      let minute = Math.floor(start / 60_000) * 60_000;
      // Five years of minutes at most: a schedule such as "0 0 0 31 2 *" never fires.
      for (let i = 0; i < 5 * 366 * 24 * 60; i += 1, minute += 60_000) {
        const date = new Date(minute);
        if (!months.has(date.getUTCMonth() + 1) || !dayMatches(date)) {
          // Skip to the next day.
          minute = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1) - 60_000;
          continue;
        }
        if (!hours.has(date.getUTCHours())) {
          minute = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours() + 1) - 60_000;
          continue;
        }
        if (!minutes.has(date.getUTCMinutes())) continue;
        for (const second of sortedSeconds) {
          const at = minute + second * 1000;
          if (at >= start) return at;
        }
      }
      throw new Error(`Timer schedule "${expression}" never fires.`);
    },
  };
}
