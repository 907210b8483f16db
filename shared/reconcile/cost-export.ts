import { errors } from '../errors.js';

/** One charge of an Azure Cost Management cost-details export, as reconcile reads it. */
export interface CostLine {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  resourceId: string;
  meterCategory: string;
  /** The cost in pico-dollars (exact to 12 decimals). */
  costPico: bigint;
  currency: string;
}

/**
 * The documented columns that carry each field, in order of preference, compared case-insensitively: the EA
 * (PascalCase, e.g. CostInBillingCurrency) and MCA (camelCase, e.g. costInUsd) cost-details schemas, and the
 * legacy usage-details names (UsageDate, PreTaxCost, InstanceId).
 */
const COLUMNS = {
  day: ['date', 'usagedate', 'usagedatetime'],
  resourceId: ['resourceid', 'instanceid', 'instancename'],
  meterCategory: ['metercategory'],
  // USD when the export has it; else the billing currency, which must then be USD.
  costUsd: ['costinusd'],
  cost: ['costinbillingcurrency', 'pretaxcost', 'cost'],
  currency: ['billingcurrencycode', 'billingcurrency', 'currency'],
} as const;

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks; CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (quoted) throw errors.invalidRequest('The CSV ends inside a quoted field.');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** A decimal amount (optionally signed, optionally in exponent form) as exact pico-dollars, rounded half away from zero beyond 12 decimals. */
export function decimalToPico(text: string): bigint | undefined {
  const trimmed = text.trim();
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(trimmed);
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) return undefined;
  const [, sign, whole, fraction = '', exponentText] = match;
  const exponent = Number(exponentText ?? 0);
  // Move the decimal point, then keep 12 digits after it (and one more to round).
  let digits = `${whole}${fraction}`;
  let point = whole!.length + exponent;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const integer = digits.slice(0, point) || '0';
  const decimals = `${digits.slice(point)}0000000000000`.slice(0, 13);
  let pico = BigInt(integer) * 1_000_000_000_000n + BigInt(decimals.slice(0, 12));
  if (Number(decimals[12]) >= 5) pico += 1n;
  return sign === '-' ? -pico : pico;
}

/** A date as the exports write it (MM/DD/YYYY, YYYY-MM-DD, or an ISO date-time) as a UTC day. */
function dayOf(text: string): string | undefined {
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})/.exec(text.trim());
  if (us) return `${us[3]}-${us[1]!.padStart(2, '0')}-${us[2]!.padStart(2, '0')}`;
  const iso = /^(\d{4}-\d{2}-\d{2})/.exec(text.trim());
  return iso ? iso[1] : undefined;
}

function column(header: string[], names: readonly string[]): number {
  for (const name of names) {
    const index = header.findIndex((h) => h.trim().toLowerCase() === name);
    if (index >= 0) return index;
  }
  return -1;
}

/** Reads a cost-details export; 400 naming the missing column or the row and value it cannot read. */
export function parseCostExport(text: string): CostLine[] {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw errors.invalidRequest('The cost export is empty.');
  const at = {
    day: column(header, COLUMNS.day),
    resourceId: column(header, COLUMNS.resourceId),
    meterCategory: column(header, COLUMNS.meterCategory),
    costUsd: column(header, COLUMNS.costUsd),
    cost: column(header, COLUMNS.cost),
    currency: column(header, COLUMNS.currency),
  };
  if (at.day < 0) throw errors.invalidRequest('The cost export has no Date column (Date, date or UsageDate).');
  if (at.resourceId < 0) throw errors.invalidRequest('The cost export has no ResourceId column (ResourceId, resourceId or InstanceId).');
  if (at.costUsd < 0 && at.cost < 0) {
    throw errors.invalidRequest('The cost export has no cost column (costInUsd, CostInBillingCurrency, PreTaxCost or Cost).');
  }
  return rows.map((row, i) => {
    const line = i + 2;
    const day = dayOf(row[at.day] ?? '');
    if (!day) throw errors.invalidRequest(`Row ${line}: the date '${row[at.day] ?? ''}' is not MM/DD/YYYY or YYYY-MM-DD.`);
    const useUsd = at.costUsd >= 0;
    const currency = useUsd ? 'USD' : (at.currency >= 0 ? row[at.currency]?.trim() : '') || 'USD';
    if (currency.toUpperCase() !== 'USD') {
      throw errors.invalidRequest(`Row ${line}: the cost is in ${currency}; export with costInUsd, or in a USD billing currency.`);
    }
    const costText = row[useUsd ? at.costUsd : at.cost] ?? '';
    const costPico = decimalToPico(costText);
    if (costPico === undefined) throw errors.invalidRequest(`Row ${line}: the cost '${costText}' is not a number.`);
    return {
      day,
      resourceId: (row[at.resourceId] ?? '').trim(),
      meterCategory: at.meterCategory >= 0 ? (row[at.meterCategory] ?? '').trim() : '',
      costPico,
      currency: 'USD',
    };
  });
}
