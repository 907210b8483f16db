/**
 * A deterministic instance of a JSON schema, for the simulator's tool-call arguments and structured
 * output. Covers what function parameters and `response_format.json_schema` use in practice:
 * `type` (one or a list), `enum`, `const`, objects (every declared property, `required`,
 * `additionalProperties`), arrays (`items`, `prefixItems`, `minItems`/`maxItems`, `uniqueItems`),
 * string lengths and common formats, number and integer bounds with `multipleOf`, `anyOf`/`oneOf`
 * (the first branch that fits), `allOf` of objects, and local `$ref`s (`#`, `#/$defs/…`,
 * `#/definitions/…`), recursion included. `pattern` and `not` are not honoured. Strings are ASCII,
 * so each token of the JSON text decodes on its own.
 */
import { REPLY_WORDS } from './sim-content.js';

type Schema = Record<string, unknown> | boolean;
type Random = () => number;

// Past this depth, optional parts are left out (empty arrays, null branches) so recursive schemas end.
const SHALLOW_DEPTH = 4;
const MAX_DEPTH = 32;

const FORMATS: Record<string, string> = {
  'date-time': '2025-01-15T09:30:00Z',
  date: '2025-01-15',
  time: '09:30:00Z',
  email: 'sim@example.com',
  uri: 'https://example.com/sim',
  url: 'https://example.com/sim',
  uuid: '3f2b8c4e-1a2d-4e5f-8a9b-0c1d2e3f4a5b',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
};

/** A value that validates against `schema`, the same for the same schema and random sequence. */
export function schemaInstance(schema: unknown, random: Random): unknown {
  const root = isSchema(schema) ? schema : {};
  return new Instantiator(root, random).value(root, 0);
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'boolean' || (value !== null && typeof value === 'object' && !Array.isArray(value));
}

class Instantiator {
  readonly #root: Schema;
  readonly #random: Random;

  constructor(root: Schema, random: Random) {
    this.#root = root;
    this.#random = random;
  }

  value(schema: Schema, depth: number): unknown {
    if (typeof schema === 'boolean' || depth > MAX_DEPTH) return null;
    if (typeof schema.$ref === 'string') return this.value(this.#resolve(schema.$ref), depth + 1);
    if ('const' in schema) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length > 0) return this.#pick(schema.enum);
    const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
    if (Array.isArray(branches) && branches.length > 0) return this.value(this.#branch(branches, depth), depth + 1);
    if (Array.isArray(schema.allOf)) return this.value(mergeAll(schema), depth + 1);
    switch (this.#type(schema, depth)) {
      case 'object':
        return this.#object(schema, depth);
      case 'array':
        return this.#array(schema, depth);
      case 'integer':
        return this.#number(schema, true);
      case 'number':
        return this.#number(schema, false);
      case 'boolean':
        return this.#random() < 0.5;
      case 'null':
        return null;
      default:
        return this.#string(schema);
    }
  }

  #resolve(ref: string): Schema {
    if (!ref.startsWith('#')) return {};
    let node: unknown = this.#root;
    for (const raw of ref.slice(1).split('/').filter(Boolean)) {
      const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
    return isSchema(node) ? node : {};
  }

  #pick<T>(options: readonly T[]): T {
    return options[Math.floor(this.#random() * options.length)] as T;
  }

  // Deep in a recursive schema, a null branch ends the recursion; otherwise the first real branch.
  #branch(branches: Schema[], depth: number): Schema {
    const isNull = (b: Schema) => typeof b === 'object' && b.type === 'null';
    if (depth >= SHALLOW_DEPTH) return branches.find(isNull) ?? branches[0]!;
    return branches.find((b) => !isNull(b)) ?? branches[0]!;
  }

  #type(schema: Record<string, unknown>, depth: number): string {
    const { type } = schema;
    if (typeof type === 'string') return type;
    if (Array.isArray(type) && type.length > 0) {
      const real = type.filter((t) => t !== 'null');
      return depth >= SHALLOW_DEPTH && type.includes('null') ? 'null' : String(real[0] ?? 'null');
    }
    if ('properties' in schema || 'required' in schema || 'additionalProperties' in schema) return 'object';
    if ('items' in schema || 'prefixItems' in schema) return 'array';
    return 'string';
  }

  #object(schema: Record<string, unknown>, depth: number): Record<string, unknown> {
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
    const out: Record<string, unknown> = {};
    for (const [name, property] of Object.entries(properties)) {
      if (depth < SHALLOW_DEPTH || required.includes(name)) out[name] = this.value(property, depth + 1);
    }
    const extra = isSchema(schema.additionalProperties) ? schema.additionalProperties : {};
    for (const name of required) if (!(name in out)) out[name] = this.value(extra === true ? {} : extra, depth + 1);
    return out;
  }

  #array(schema: Record<string, unknown>, depth: number): unknown[] {
    const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as Schema[]) : [];
    const items = isSchema(schema.items) ? schema.items : {};
    const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
    const max = typeof schema.maxItems === 'number' ? schema.maxItems : Number.POSITIVE_INFINITY;
    const wanted = depth >= SHALLOW_DEPTH ? min : min + Math.floor(this.#random() * 3) + (min === 0 ? 1 : 0);
    const length = Math.min(Math.max(wanted, prefix.length, min), items === false ? prefix.length : max);
    const out: unknown[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < length; i++) {
      const itemSchema = prefix[i] ?? items;
      let value = this.value(itemSchema, depth + 1);
      // uniqueItems: draw again a few times; an enum too small for minItems cannot be helped.
      for (let attempt = 0; schema.uniqueItems === true && seen.has(JSON.stringify(value)) && attempt < 20; attempt++) {
        value = this.value(itemSchema, depth + 1);
      }
      if (schema.uniqueItems === true && seen.has(JSON.stringify(value)) && out.length >= min) break;
      seen.add(JSON.stringify(value));
      out.push(value);
    }
    return out;
  }

  #number(schema: Record<string, unknown>, integer: boolean): number {
    const num = (key: string) => (typeof schema[key] === 'number' ? (schema[key] as number) : undefined);
    const step = num('multipleOf') ?? (integer ? 1 : 0.01);
    const exclusiveMin = num('exclusiveMinimum');
    const exclusiveMax = num('exclusiveMaximum');
    let low = num('minimum') ?? (exclusiveMin === undefined ? undefined : exclusiveMin + step);
    let high = num('maximum') ?? (exclusiveMax === undefined ? undefined : exclusiveMax - step);
    low ??= high === undefined ? 0 : Math.min(0, high);
    high ??= low + 100;
    // The epsilon keeps float division (0.3 / 0.1 = 2.9999999999999996) from losing a bound's own step.
    const first = Math.ceil(low / step - 1e-9);
    const last = Math.floor(high / step + 1e-9);
    const steps = last >= first ? first + Math.floor(this.#random() * (last - first + 1)) : first;
    // Round away float noise from the multiplication (0.07 * 3 = 0.21000000000000002).
    return Number((steps * step).toFixed(10));
  }

  #string(schema: Record<string, unknown>): string {
    if (typeof schema.format === 'string' && schema.format in FORMATS) return FORMATS[schema.format]!;
    const min = typeof schema.minLength === 'number' ? schema.minLength : 1;
    const max = typeof schema.maxLength === 'number' ? schema.maxLength : Math.max(min, 24);
    const target = min + Math.floor(this.#random() * (Math.min(max, min + 16) - min + 1));
    let text = '';
    while (text.length < target) text += `${text.length === 0 ? '' : ' '}${this.#pick(REPLY_WORDS)}`;
    return text.slice(0, Math.max(target, min)).slice(0, max);
  }
}

// allOf of object schemas: their properties and required lists together; otherwise the first part.
function mergeAll(schema: Record<string, unknown>): Schema {
  const { allOf, ...rest } = schema;
  const parts = [rest, ...(allOf as Schema[])].filter((p): p is Record<string, unknown> => typeof p === 'object');
  const merged: Record<string, unknown> = { ...rest };
  for (const part of parts) {
    for (const [key, value] of Object.entries(part)) {
      if (key === 'properties') merged.properties = { ...(merged.properties as object), ...(value as object) };
      else if (key === 'required') merged.required = [...((merged.required as string[]) ?? []), ...(value as string[])];
      else merged[key] ??= value;
    }
  }
  return merged;
}
