/**
 * HTTP benchmark: starts the real server (src/server.ts, production mode, shipped models, a temporary data
 * folder) as a separate process and drives it with autocannon over loopback. Prints requests per second and
 * latency percentiles per scenario. Usage: npm run bench:http [-- --seconds 10 --connections 10]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startBenchServer } from './server.js';

const { values: options } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '10' } },
});
const seconds = Number(options.seconds);
const connections = Number(options.connections);

interface Scenario {
  name: string;
  path: string;
  headers?: Record<string, string>;
}

function run(url: string, scenario: Scenario): Promise<autocannon.Result> {
  return autocannon({ url: url + scenario.path, connections, duration: seconds, headers: scenario.headers });
}

async function main(): Promise<void> {
  const server = await startBenchServer();
  try {
    const bearer = { authorization: server.bearer };

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
  }
}

await main();
