import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `npm start` as a newcomer runs it: a child process, keys generated and printed, stopped with SIGTERM.
interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function startGateway(dataDir: string): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/local/start.ts'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', SWITCHYARD_DATA_DIR: dataDir, SWITCHYARD_LEDGER_FLUSH_MS: '100000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 30_000);
    const check = () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)[^]*?\n\n/.exec(output); // the whole start-up block
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output };
}

async function stop(started: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => started.child.once('exit', (code) => resolve(code)));
  started.child.kill('SIGTERM');
  return exited;
}

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sy-restart-'));
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
    const answer = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'remember me' }], max_tokens: 6 });
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
      const usage = await (await fetch(`${second.url}/usage?from=${day}&to=${day}&groupBy=alias,kind`, { headers: { authorization: `Bearer ${adminKey}` } })).json();
      expect(usage.rows).toContainEqual(expect.objectContaining({ alias: 'chat', kind: 'managed', requests: 1, outputTokens: 6, estimatedRequests: 1 }));
    } finally {
      expect(await stop(second)).toBe(0);
    }
  }, 90_000);
});
