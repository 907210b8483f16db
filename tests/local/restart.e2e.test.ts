import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ENTRY, exitWithin, gatewayEnv, killAll, startGatewayProcess, type GatewayProcess } from './gateway-process.js';

// `npm start` as a newcomer runs it: a child process, keys generated and printed, stopped with SIGTERM.
const spawned = new Set<number>();

async function startGateway(dataDir: string): Promise<GatewayProcess> {
  const gateway = await startGatewayProcess(process.execPath, GATEWAY_ENTRY, gatewayEnv(dataDir, { SWITCHYARD_LEDGER_FLUSH_MS: '100000' }));
  spawned.add(gateway.child.pid!);
  return gateway;
}

async function stop(gateway: GatewayProcess): Promise<number | null> {
  gateway.child.kill('SIGTERM');
  const { code } = await exitWithin(gateway.exited, 30_000);
  spawned.delete(gateway.child.pid!);
  return code;
}

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-restart-'));
});
afterEach(() => {
  killAll(spawned);
  spawned.clear();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start in local mode', () => {
  it('generates and prints keys once, flushes usage on SIGTERM, and keeps every document across a restart', async () => {
    const first = await startGateway(dataDir);
    const demoKey = /Demo team key \(shown once[^)]*\): (\S+)/.exec(first.output())?.[1];
    const adminKey = /Admin key \(shown once[^)]*\): (\S+)/.exec(first.output())?.[1];
    expect(demoKey).toMatch(/^sy-/);
    expect(adminKey).toMatch(/^sya-/);
    expect(first.output()).toMatch(/embedded defaults/);

    const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: demoKey!, maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'remember me' }],
      max_tokens: 6,
    });
    expect(answer.usage!.completion_tokens).toBe(6);
    const team = await fetch(`${first.url}/manage/teams/finance-team`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Finance', aliases: ['chat'] }),
    });
    expect(team.status).toBe(201);
    // The ledger flushes only every 100 s here: the request's usage is written by the graceful shutdown.
    expect(await stop(first)).toBe(0);

    const second = await startGateway(dataDir);
    try {
      expect(second.output()).not.toMatch(/shown once/);
      const models = await fetch(`${second.url}/v1/models`, { headers: { authorization: `Bearer ${demoKey}` } });
      expect(models.status).toBe(200);
      const kept = await fetch(`${second.url}/manage/teams/finance-team`, { headers: { authorization: `Bearer ${adminKey}` } });
      expect(await kept.json()).toMatchObject({ id: 'finance-team', name: 'Finance' });
      const day = new Date().toISOString().slice(0, 10);
      const usage = await (
        await fetch(`${second.url}/usage?from=${day}&to=${day}&groupBy=alias,kind`, { headers: { authorization: `Bearer ${adminKey}` } })
      ).json();
      expect(usage.rows).toContainEqual(
        expect.objectContaining({ alias: 'chat', kind: 'managed', requests: 1, outputTokens: 6, estimatedRequests: 1 }),
      );
    } finally {
      expect(await stop(second)).toBe(0);
    }
  }, 90_000);
});
