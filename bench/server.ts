/**
 * The real server for the HTTP benchmarks: src/server.ts started as its own process (production mode, the
 * shipped models, a temporary data folder), with one account made by the admin CLI and an API token for it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/paths.js';

export interface EventLoopWindow {
  maxMs: number;
  p99Ms: number;
  meanMs: number;
}

export interface BenchServer {
  url: string;
  pid: number;
  /** With `probeEventLoop`: starts a new window of the server's event-loop delays, and reads it. */
  eventLoop: { reset(): Promise<void>; read(): Promise<EventLoopWindow> } | null;
  /** `Authorization` header value for the benchmark account. */
  bearer: string;
  stop(): Promise<void>;
}

async function json(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** `probeEventLoop`: load bench/event-loop-probe.ts into the server, to read its event-loop stalls over IPC. */
export async function startBenchServer(env: Record<string, string> = {}, { probeEventLoop = false } = {}): Promise<BenchServer> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-bench-'));
  const probe = probeEventLoop ? ['--import', path.join(projectRoot, 'bench/event-loop-probe.ts')] : [];
  const child = spawn(process.execPath, ['--import', 'tsx', ...probe, path.join(projectRoot, 'src/server.ts')], {
    // High API and page limits: the benchmark measures the server, not the rate limiters' 429s.
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, UPLOAD_DIR: path.join(dataDir, 'uploads'), LOG_LEVEL: 'info', API_RATE_LIMIT: '100000', WEB_RATE_LIMIT: '100000', ...env },
    stdio: ['ignore', 'pipe', 'inherit', ...(probeEventLoop ? (['ipc'] as const) : [])],
  });
  const ask = <T>(message: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (reply) => resolve(reply as T));
      child.send(message);
    });
  const eventLoop = probeEventLoop
    ? { reset: async () => void (await ask('event-loop:reset')), read: () => ask<EventLoopWindow>('event-loop:read') }
    : null;
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const found = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      if (found) resolve(found);
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      child.on('exit', () => {
        rmSync(dataDir, { recursive: true, force: true });
        resolve();
      });
      child.kill('SIGTERM');
    });

  try {
    // The API has no sign-up; the account is created through the admin CLI in the same data folder.
    const username = 'bench';
    const password = 'benchmark password';
    const cli = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/cli/admin.ts'), 'create', username], {
      env: { ...process.env, DATA_DIR: dataDir, INKWELL_PASSWORD: password },
      stdio: 'inherit',
    });
    await new Promise((resolve, reject) => cli.on('exit', (code) => (code === 0 ? resolve(null) : reject(new Error(`admin create failed (${code})`)))));
    const token = await json(`${url}/api/v1/auth/token`, { method: 'POST', body: JSON.stringify({ username, password }) });
    return { url, pid: child.pid!, bearer: `Bearer ${String(token.access_token)}`, eventLoop, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
