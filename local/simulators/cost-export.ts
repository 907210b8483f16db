import type { SimStats } from './sim-server.js';

/**
 * What Azure Cost Management would bill for a simulator's own traffic, written as a cost-details export (the
 * MCA schema's column names, camelCase, one row per resource, meter and day), so reconcile can be run locally
 * against a known bill and drift injected by editing a row.
 */
export interface CostCharge {
  day: string;
  resourceId: string;
  meterCategory: string;
  meterName: string;
  quantity: number;
  unitOfMeasure: string;
  /** Exact decimal USD. */
  costInUsd: string;
}

const PICO = 1_000_000_000_000n;

/** Pico-dollars as a plain decimal (up to 12 places, trailing zeros dropped). */
export function picoDecimal(pico: bigint): string {
  const negative = pico < 0n;
  const magnitude = negative ? -pico : pico;
  const fraction = (magnitude % PICO).toString().padStart(12, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${magnitude / PICO}${fraction ? `.${fraction}` : ''}`;
}

const picoPerToken = (perMillionUsd: number) => BigInt(Math.round(perMillionUsd * 1_000_000));

/** A serverless simulator's day of tokens at its list prices: one input and one output meter. */
export function serverlessCharges(
  stats: Pick<SimStats, 'promptTokens' | 'completionTokens'>,
  options: { day: string; resourceId: string; inputPerMillionUsd: number; outputPerMillionUsd: number },
): CostCharge[] {
  const line = (meterName: string, tokens: number, perMillionUsd: number): CostCharge => ({
    day: options.day,
    resourceId: options.resourceId,
    meterCategory: 'Foundry Models',
    meterName,
    quantity: tokens / 1000,
    unitOfMeasure: '1K',
    costInUsd: picoDecimal(BigInt(tokens) * picoPerToken(perMillionUsd)),
  });
  return [
    line('Input Tokens', stats.promptTokens, options.inputPerMillionUsd),
    line('Output Tokens', stats.completionTokens, options.outputPerMillionUsd),
  ];
}

/** A managed deployment's instance-hours of a day. */
export function managedCharge(options: {
  day: string;
  resourceId: string;
  hours: number;
  hourlyUsd: number;
  instances: number;
}): CostCharge {
  const pico = BigInt(Math.round(options.hourlyUsd * 1_000_000)) * 1_000_000n * BigInt(options.hours * options.instances);
  return {
    day: options.day,
    resourceId: options.resourceId,
    meterCategory: 'Azure Machine Learning',
    meterName: 'Managed Online Endpoint Instance Hours',
    quantity: options.hours * options.instances,
    unitOfMeasure: '1 Hour',
    costInUsd: picoDecimal(pico),
  };
}

const HEADER = [
  'date',
  'resourceId',
  'meterCategory',
  'meterName',
  'quantity',
  'unitOfMeasure',
  'billingCurrency',
  'costInBillingCurrency',
  'costInUsd',
];

/** The export as CSV; dates as the exports write them (MM/DD/YYYY). */
export function costExportCsv(charges: CostCharge[]): string {
  const rows = charges.map((c) => {
    const [year, month, day] = c.day.split('-');
    return [
      `${month}/${day}/${year}`,
      c.resourceId,
      c.meterCategory,
      c.meterName,
      String(c.quantity),
      c.unitOfMeasure,
      'USD',
      c.costInUsd,
      c.costInUsd,
    ]
      .map((cell) => (/[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell))
      .join(',');
  });
  return `${[HEADER.join(','), ...rows].join('\r\n')}\r\n`;
}

/**
 * `GET /sim/cost-export?resourceId=&inputPerMillionUsd=&outputPerMillionUsd=[&day=YYYY-MM-DD]` on a serverless
 * simulator: the export Azure would write for the tokens it has served since it started (or its stats were reset),
 * billed on one day (today, UTC, by default).
 */
export function serverlessCostExport(
  url: URL,
  stats: Pick<SimStats, 'promptTokens' | 'completionTokens'>,
  nowMs: number,
): { status: number; body: string } {
  const resourceId = url.searchParams.get('resourceId');
  const input = Number(url.searchParams.get('inputPerMillionUsd'));
  const output = Number(url.searchParams.get('outputPerMillionUsd'));
  const day = url.searchParams.get('day') ?? new Date(nowMs).toISOString().slice(0, 10);
  if (
    !resourceId ||
    !url.searchParams.has('inputPerMillionUsd') ||
    !Number.isFinite(input) ||
    input < 0 ||
    !Number.isFinite(output) ||
    output < 0
  ) {
    return { status: 400, body: 'resourceId, inputPerMillionUsd and outputPerMillionUsd are required (day is optional).\n' };
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return { status: 400, body: 'day must be YYYY-MM-DD.\n' };
  return {
    status: 200,
    body: costExportCsv(serverlessCharges(stats, { day, resourceId, inputPerMillionUsd: input, outputPerMillionUsd: output })),
  };
}
