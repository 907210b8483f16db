import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  seconds: number;
  reqPerSecMean: number;
  p50Ms: number;
  p99Ms: number;
  ok2xx: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
  /** Requests still in flight when autocannon closed its connections at the end of the run. */
  abandoned: number;
}

let running: autocannon.Instance | undefined;

/** Drives POSTs at `url` for `seconds` with autocannon; one run at a time. */
export function drive(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    running = autocannon(
      {
        url: options.url,
        method: 'POST',
        headers: options.headers,
        body: options.body,
        connections: options.connections,
        pipelining: 1,
        duration: options.seconds,
        timeout: 30,
      },
      (error, result) => {
        running = undefined;
        if (error) return reject(error);
        const answered = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
        resolve({
          seconds: result.duration,
          reqPerSecMean: result.requests.mean,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          ok2xx: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, stat]) => [code, Number(stat.count)])),
          abandoned: Math.max(0, result.requests.sent - answered - result.errors),
        });
      },
    );
  });
}

/** Ends the run in progress, if any (its callback still fires). */
export function stopDriving(): void {
  running?.stop();
}
