import type { HttpFunctionRegistration } from './functions-core.js';

// Route templates as the Functions host reads them (ASP.NET Core syntax), cut down to what functions/*.ts
// registers: literal segments, whole-segment `{name}` parameters and a trailing `{*name}` catch-all. Anything
// else is refused at start-up rather than served differently from production.

export type RouteSegment =
  | { readonly kind: 'literal'; readonly lower: string }
  | { readonly kind: 'parameter' | 'catchAll'; readonly name: string };

export interface RouteTemplate {
  readonly template: string;
  readonly segments: readonly RouteSegment[];
  /** One rank per segment, lower first: literal 1, parameter 2, catch-all 3 (as ASP.NET ranks them). */
  readonly precedence: readonly number[];
}

export interface RouteMatch {
  readonly registration: HttpFunctionRegistration;
  readonly params: Readonly<Record<string, string>>;
}

export interface RouteTable {
  /** The routes in match order: precedence, then registration order. */
  readonly templates: readonly string[];
  /** The registration serving this method and (undecoded) path, or null for a 404. */
  find(method: string, path: string): RouteMatch | null;
}

const PARAMETER = /^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}$/;
const RANK = { literal: 1, parameter: 2, catchAll: 3 } as const;
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

function parseSegment(template: string, text: string): RouteSegment {
  if (text === '') throw new Error(`Invalid route template "${template}": it has an empty segment.`);
  if (!/[{}?*:=]/.test(text)) return { kind: 'literal', lower: text.toLowerCase() };
  const match = PARAMETER.exec(text);
  if (!match) {
    throw new Error(
      `Invalid route template "${template}": segment "${text}" is not supported ` +
        '(the local host serves literals, {name} and a final {*name}; no constraints, defaults or optional parameters).',
    );
  }
  return { kind: match[1] === '*' ? 'catchAll' : 'parameter', name: match[2] as string };
}

/** Parses a route template; throws a readable Error for anything the local host does not serve exactly. */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/').map((text) => parseSegment(template, text));
  const names = new Set<string>();
  segments.forEach((segment, index) => {
    if (segment.kind === 'literal') return;
    if (segment.kind === 'catchAll' && index < segments.length - 1) {
      throw new Error(`Invalid route template "${template}": a catch-all parameter must be the last segment.`);
    }
    const key = segment.name.toLowerCase();
    if (names.has(key)) throw new Error(`Invalid route template "${template}": "${segment.name}" appears twice.`);
    names.add(key);
  });
  return { template, segments, precedence: segments.map((segment) => RANK[segment.kind]) };
}

function comparePrecedence(a: readonly number[], b: readonly number[]): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Matches decoded path segments against a template; null when it does not match. */
function matchSegments(
  route: RouteTemplate,
  segments: readonly string[],
  lowered: readonly string[],
): Readonly<Record<string, string>> | null {
  let params: Record<string, string> | undefined;
  for (const [index, part] of route.segments.entries()) {
    if (part.kind === 'catchAll') {
      return index < segments.length ? { ...params, [part.name]: segments.slice(index).join('/') } : (params ?? NO_PARAMS);
    }
    const value = segments[index];
    if (value === undefined) return null;
    if (part.kind === 'literal') {
      if (lowered[index] !== part.lower) return null;
    } else {
      if (value === '') return null;
      params ??= {};
      params[part.name] = value;
    }
  }
  return route.segments.length === segments.length ? (params ?? NO_PARAMS) : null;
}

/** Kestrel decodes the path but keeps %2F, so an encoded slash never splits a segment. */
function decodeSegment(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw.replace(/%2f/gi, '%252F'));
  } catch {
    return raw;
  }
}

/** Path → decoded segments; a trailing slash is ignored, as the Functions host does. */
export function splitPath(path: string): string[] {
  const end = path.length > 1 && path.endsWith('/') ? path.length - 1 : path.length;
  return end <= 1 ? [] : path.slice(1, end).split('/').map(decodeSegment);
}

interface CompiledRoute {
  readonly registration: HttpFunctionRegistration;
  readonly template: RouteTemplate;
  readonly methods: ReadonlySet<string> | null;
}

function compileRoute(registration: HttpFunctionRegistration, routePrefix: string): CompiledRoute {
  const where = `Function "${registration.name}" (route "${registration.route}")`;
  if (registration.authLevel !== 'anonymous') {
    // Production would ask for a function key; serving it open here would hide that difference.
    throw new Error(`${where}: authLevel "${registration.authLevel}" is not served by the local host (anonymous only).`);
  }
  const route = registration.route.replace(/^\/+|\/+$/g, '');
  const full = routePrefix === '' ? route : route === '' ? routePrefix : `${routePrefix}/${route}`;
  try {
    const methods = registration.methods.length > 0 ? new Set(registration.methods) : null;
    return { registration, template: parseRouteTemplate(full), methods };
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

/** The route table of a set of registrations under a route prefix; throws for a registration it cannot serve. */
export function compileRouteTable(registrations: readonly HttpFunctionRegistration[], routePrefix: string): RouteTable {
  const compiled = registrations.map((registration) => compileRoute(registration, routePrefix));
  // Array.prototype.sort is stable, so registration order breaks ties.
  const routes = compiled.sort((a, b) => comparePrecedence(a.template.precedence, b.template.precedence));
  return {
    templates: routes.map((route) => `/${route.template.template}`),
    find(method, path) {
      const segments = splitPath(path);
      const lowered = segments.map((segment) => segment.toLowerCase());
      for (const route of routes) {
        if (route.methods !== null && !route.methods.has(method)) continue;
        const params = matchSegments(route.template, segments, lowered);
        if (params !== null) return { registration: route.registration, params };
      }
      return null;
    },
  };
}
