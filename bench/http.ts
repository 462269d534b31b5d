/**
 * HTTP benchmark: starts the real server (src/server.ts, production mode, shipped models, a temporary data
 * folder) as a separate process and drives it with autocannon over loopback. Prints requests per second and
 * latency percentiles per scenario. Usage: npm run bench:http [-- --seconds 10 --connections 10]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { projectRoot } from '../src/paths.js';

const { values: options } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '10' } },
});
const seconds = Number(options.seconds);
const connections = Number(options.connections);

async function startServer(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/server.ts')], {
    // A high API limit: the benchmark measures the server, not the rate limiter's 429s.
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', API_RATE_LIMIT: '100000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const found = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      if (found) resolve(found);
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function json(url: string, init: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

interface Scenario {
  name: string;
  path: string;
  headers?: Record<string, string>;
}

function run(url: string, scenario: Scenario): Promise<autocannon.Result> {
  return autocannon({ url: url + scenario.path, connections, duration: seconds, headers: scenario.headers });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-bench-'));
  const server = await startServer(dataDir);
  try {
    // The API has no sign-up; the first account is created through the admin CLI's service in the data folder.
    const username = 'bench';
    const password = 'benchmark password';
    const cli = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/cli/admin.ts'), 'create', username], {
      env: { ...process.env, DATA_DIR: dataDir, INKWELL_PASSWORD: password },
      stdio: 'inherit',
    });
    await new Promise((resolve, reject) => cli.on('exit', (code) => (code === 0 ? resolve(null) : reject(new Error(`admin create failed (${code})`)))));
    const token = await json(`${server.url}/api/v1/auth/token`, { method: 'POST', body: JSON.stringify({ username, password }) });
    const bearer = { authorization: `Bearer ${String(token.access_token)}` };

    const scenarios: Scenario[] = [
      { name: 'GET /health (liveness, logged)', path: '/health' },
      { name: 'GET / (home page, EJS + layout)', path: '/' },
      { name: 'GET /api/v1/me (JWT verify + user lookup)', path: '/api/v1/me', headers: bearer },
      { name: 'GET /api/openapi.json', path: '/api/openapi.json' },
    ];
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(`Inkwell HTTP benchmark: ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}`);
    console.log(`${connections} connections, ${seconds} s per scenario, server and load generator on the same machine\n`);
    console.log(['scenario'.padEnd(44), 'req/s'.padStart(9), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'non-2xx'.padStart(8)].join('  '));
    for (const scenario of scenarios) {
      const result = await run(server.url, scenario);
      console.log(
        [
          scenario.name.padEnd(44),
          result.requests.average.toFixed(0).padStart(9),
          String(result.latency.p50).padStart(8),
          String(result.latency.p99).padStart(8),
          String(result.non2xx + result.errors).padStart(8),
        ].join('  '),
      );
    }
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
