import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The local gateway killed with SIGKILL right after it acknowledged configuration writes, as a crash or an
// OOM killer would: what the management API answered 200/201 for must be there after a restart.
const ADMIN_KEY = 'sya-crash-admin-key-0123456789abcdef';
const DEMO_KEY = 'sy-crash-demo-key-0123456789abcdef';

let dataDir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-crash-'));
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

async function startGateway(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
      SWITCHYARD_DEMO_KEY: DEMO_KEY,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output}`)));
    child.stdout!.on('data', () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return { child, url };
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

function admin(url: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return fetch(url + path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

describe('the local gateway after kill -9', () => {
  it('keeps every configuration write it acknowledged, and the key it handed out still works', async () => {
    const first = await startGateway();
    const deployment = await admin(first.url, '/manage/deployments/crash-dep', {
      method: 'PUT',
      body: {
        kind: 'serverless',
        protocol: 'openai',
        endpoint: 'http://127.0.0.1:9/v1',
        upstreamModel: 'm',
        auth: { type: 'none' },
        pricing: { inputPerMillionUsd: 1, outputPerMillionUsd: 2 },
      },
    });
    expect(deployment.status).toBe(201);
    const route = await admin(first.url, '/manage/routes/crash-alias', { method: 'PUT', body: { targets: [{ deployment: 'crash-dep' }] } });
    expect(route.status).toBe(201);
    const team = await admin(first.url, '/manage/teams/crash-team', { method: 'PUT', body: { name: 'Crash', aliases: ['crash-alias'] } });
    expect(team.status).toBe(201);
    const issued = await admin(first.url, '/manage/teams/crash-team/keys', { method: 'POST', body: {} });
    expect(issued.status).toBe(201);
    const { key } = (await issued.json()) as { key: string };
    await kill9(first.child);

    const second = await startGateway();
    try {
      expect((await admin(second.url, '/manage/deployments/crash-dep')).status).toBe(200);
      expect(await (await admin(second.url, '/manage/routes/crash-alias')).json()).toMatchObject({
        alias: 'crash-alias',
        targets: [{ deployment: 'crash-dep' }],
      });
      expect(await (await admin(second.url, '/manage/teams/crash-team')).json()).toMatchObject({
        id: 'crash-team',
        aliases: ['crash-alias'],
      });
      const models = await fetch(`${second.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      expect(models.status).toBe(200);
      expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(['crash-alias']);
    } finally {
      await kill9(second.child);
    }
  }, 90_000);
});
