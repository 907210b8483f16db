/** The endpoint (trailing slashes trimmed) with `path` appended and `query` set. */
export function upstreamUrl(endpoint: string, path: string, query?: Record<string, string>): string {
  const base = endpoint.replace(/\/+$/, '') + path;
  return query ? `${base}?${new URLSearchParams(query)}` : base;
}
