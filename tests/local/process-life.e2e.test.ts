import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GATEWAY_ENTRY,
  commandLine,
  descendants,
  exitWithin,
  gatewayEnv,
  goneWithin,
  hasProcFs,
  killAll,
  portRefuses,
  sleep,
  spawnCaptured,
  startGatewayProcess,
  waitFor,
} from './gateway-process.js';

// How the gateway process lives and dies: under npm and process managers, on a busy port, and when a request
// will not end. Every spawned process is killed in afterEach, whatever the test did.

const DEMO_KEY = 'sy-process-life-demo-key-0123456789';
const ADMIN_KEY = 'sya-process-life-admin-key-0123456789';

let dataRoot: string;
let dataDirs = 0;
const spawned = new Set<number>();
const newDataDir = () => join(dataRoot, `run-${++dataDirs}`);

beforeAll(async () => {
  dataRoot = await mkdtemp(join(tmpdir(), 'sy-process-life-'));
});
afterEach(() => {
  killAll(spawned);
  spawned.clear();
});
afterAll(async () => {
  await rm(dataRoot, { recursive: true, force: true });
});

/** The node process serving the gateway (npm start's compiled launcher, or the sources through tsx), found below the spawned npm or shell. */
function gatewayPid(rootPid: number): number {
  const pid = [rootPid, ...descendants(rootPid)].find(
    (candidate) => /scripts\/start\.mjs|local\/start\.ts/.test(commandLine(candidate)) && commandLine(candidate).startsWith('node'),
  );
  if (pid === undefined) throw new Error(`no gateway process below ${rootPid}`);
  return pid;
}

describe.skipIf(!hasProcFs)('npm start under a process manager', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops the gateway and frees its port when npm gets %s',
    async (signal) => {
      const npm = await startGatewayProcess('npm', ['start'], gatewayEnv(newDataDir()));
      spawned.add(npm.child.pid!);
      const gateway = gatewayPid(npm.child.pid!);
      spawned.add(gateway);
      expect(await portRefuses(npm.port)).toBe(false);

      npm.child.kill(signal);
      await exitWithin(npm.exited, 30_000);
      expect(await goneWithin(gateway, 30_000)).toBe(true);
      expect(await portRefuses(npm.port)).toBe(true);
      expect(npm.output()).toMatch(new RegExp(`received ${signal}`));
    },
    90_000,
  );

  it('shuts down by itself when its parent dies without passing a signal on', async () => {
    // `; :` stops any shell from replacing itself with node, so the gateway has a parent that can die alone.
    const shell = await startGatewayProcess('sh', ['-c', `node ${GATEWAY_ENTRY.join(' ')}; :`], gatewayEnv(newDataDir()));
    spawned.add(shell.child.pid!);
    const gateway = gatewayPid(shell.child.pid!);
    spawned.add(gateway);
    expect(gateway).not.toBe(shell.child.pid);

    shell.child.kill('SIGKILL');
    expect(await goneWithin(gateway, 30_000)).toBe(true);
    expect(await portRefuses(shell.port)).toBe(true);
  }, 90_000);
});

describe('a busy port', () => {
  it('gives one clear line on stderr and a non-zero exit, no stack', async () => {
    const occupier = createTcpServer();
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    const port = (occupier.address() as AddressInfo).port;
    try {
      const gateway = spawnCaptured(process.execPath, GATEWAY_ENTRY, gatewayEnv(newDataDir(), { PORT: String(port) }));
      spawned.add(gateway.child.pid!);
      const { code } = await exitWithin(gateway.exited, 30_000);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(gateway.stderr()).toBe(`port ${port} is in use — set PORT\n`);
      expect(gateway.output()).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => occupier.close(resolve));
    }
  }, 60_000);
});

describe('a store nobody answers at', () => {
  it('gives one clear line naming the setting on stderr and a non-zero exit, no stack (chaos found the SDK error with its diagnostics)', async () => {
    const nobody = createTcpServer();
    await new Promise<void>((resolve) => nobody.listen(0, '127.0.0.1', resolve));
    const port = (nobody.address() as AddressInfo).port;
    await new Promise((resolve) => nobody.close(resolve));
    const gateway = spawnCaptured(
      process.execPath,
      GATEWAY_ENTRY,
      gatewayEnv(newDataDir(), {
        SWITCHYARD_MODE: 'local',
        COSMOS_ENDPOINT: `https://127.0.0.1:${port}/`,
        COSMOS_KEY: 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==',
      }),
    );
    spawned.add(gateway.child.pid!);
    const { code } = await exitWithin(gateway.exited, 30_000);
    expect(code).toBe(1);
    expect(gateway.stderr()).toBe(
      `the store at https://127.0.0.1:${port}/ is not reachable (ECONNREFUSED) — check COSMOS_ENDPOINT, or leave it unset for the embedded store\n`,
    );
    expect(gateway.output()).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe('the shutdown deadline', () => {
  let hostile: Server;
  let hostileUrl: string;
  const held = new Set<ServerResponse>();
  let received = 0;

  beforeAll(async () => {
    // An upstream that answers 200 with headers, then a byte every second, forever.
    hostile = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
      received += 1;
      request.resume();
      held.add(response);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(': ');
      const timer = setInterval(() => response.write(' '), 1000);
      response.on('close', () => {
        clearInterval(timer);
        held.delete(response);
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    hostile.closeAllConnections();
    await new Promise((resolve) => hostile.close(resolve));
  });

  it('exits with code 1 when the shutdown outlasts its deadline', async () => {
    const stuck = spawnCaptured(process.execPath, ['--import', 'tsx', 'tests/local/fixtures/process-life/stuck-close.ts'], {
      PATH: process.env.PATH ?? '',
      DEADLINE_MS: '300',
    });
    spawned.add(stuck.child.pid!);
    await waitFor(stuck, (output) => (output.includes('ready') ? true : undefined), 20_000);
    stuck.child.kill('SIGTERM');
    expect(await exitWithin(stuck.exited, 20_000)).toEqual({ code: 1, signal: null });
    expect(stuck.output()).toMatch(/shutdown deadline of 300 ms passed/);
  }, 30_000);

  it('aborts a request an upstream holds open, closes every socket and exits', async () => {
    const gateway = await startGatewayProcess(
      process.execPath,
      GATEWAY_ENTRY,
      gatewayEnv(newDataDir(), {
        SWITCHYARD_DEMO_KEY: DEMO_KEY,
        SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
        SWITCHYARD_CATALOG_REFRESH_MS: '100',
        SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: '600000',
        SWITCHYARD_UPSTREAM_TIMEOUT_MS: '600000',
        // In-flight requests get deadline - flush = 1 s before they are aborted; the flush keeps its 1 s after.
        SWITCHYARD_SHUTDOWN_DEADLINE_MS: '2000',
        SWITCHYARD_SHUTDOWN_FLUSH_MS: '1000',
      }),
    );
    spawned.add(gateway.child.pid!);
    const admin = (path: string, body: unknown) =>
      fetch(`${gateway.url}${path}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const deployment = await admin('/manage/deployments/hostile', {
      kind: 'serverless',
      protocol: 'openai',
      endpoint: hostileUrl,
      upstreamModel: 'trickle',
      auth: { type: 'none' },
      pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 1 },
    });
    expect(deployment.status, await deployment.text()).toBe(201);
    const route = await admin('/manage/routes/chat', { strategy: 'spillover', targets: [{ deployment: 'hostile' }] });
    expect(route.status, await route.text()).toBeLessThan(300);

    // Until the catalog refresh shows the new route, a chat goes to a simulator and simply answers.
    const callers: AbortController[] = [];
    for (let attempt = 0; received === 0; attempt++) {
      expect(attempt).toBeLessThan(100);
      const caller = new AbortController();
      callers.push(caller);
      void fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        signal: caller.signal,
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'hold on' }] }),
      }).catch(() => undefined);
      await sleep(200);
    }
    expect(held.size).toBeGreaterThan(0);

    try {
      gateway.child.kill('SIGTERM');
      const { code, signal } = await exitWithin(gateway.exited, 30_000);
      expect(signal).toBeNull();
      expect(gateway.output()).toMatch(/still running after \d+ ms; aborting them/);
      // Aborting request.signal ends the upstream call too, so the graceful path finishes before the hard deadline.
      expect(gateway.output()).not.toMatch(/shutdown deadline/);
      expect(code).toBe(0);
      expect(await portRefuses(gateway.port)).toBe(true);
    } finally {
      for (const caller of callers) caller.abort();
    }
  }, 90_000);
});
