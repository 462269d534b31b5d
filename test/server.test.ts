import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { projectRoot } from '../src/paths.js';

interface RunningServer {
  child: ChildProcessWithoutNullStreams;
  url: string;
  output: () => string;
  exit: Promise<number | null>;
}

/** Starts src/server.ts as `npm start` would (but through tsx), on a free port and a temporary data folder. */
function startServer(env: Record<string, string>): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/server.ts')], {
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = () => {
      const url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      if (!url) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve({ child, url, output: () => output, exit });
    };
    child.stdout.on('data', onData);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited during start-up:\n${output}`));
    });
  });
}

describe('the server process', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-server-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('when started, then it migrates, loads the shipped models, is ready, and stops gracefully on SIGTERM after finishing an in-flight request', async () => {
    const server = await startServer({ DATA_DIR: dataDir });
    const ready = await fetch(`${server.url}/ready`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { checks: { models: Record<string, string> } };
    assert.ok(body.checks.models.digits && body.checks.models.signatures, JSON.stringify(body));

    // A request whose body is still arriving when SIGTERM comes must still get its answer.
    const { port, hostname } = new URL(server.url);
    const slow = http.request({ host: hostname, port, method: 'POST', path: '/api/v1/auth/token', headers: { 'content-type': 'application/json' } });
    const answered = once(slow, 'response').then(([res]) => (res as http.IncomingMessage).statusCode);
    slow.write('{"username":"nobody",');
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    slow.end('"password":"wrong password"}');

    assert.equal(await answered, 401);
    assert.equal(await server.exit, 0, server.output());
    assert.match(server.output(), /"msg":"stopped"/);
  });

  it('when a model file does not match its card, then start-up stops with one message naming the file', async () => {
    const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-models-'));
    cpSync(path.join(projectRoot, 'models'), modelsDir, { recursive: true, filter: (src) => !src.includes('training') });
    const card = JSON.parse(readFileSync(path.join(modelsDir, 'digits.json'), 'utf8')) as { file: { sha256: string } };
    card.file.sha256 = '0'.repeat(64);
    writeFileSync(path.join(modelsDir, 'digits.json'), JSON.stringify(card));

    await assert.rejects(startServer({ DATA_DIR: dataDir, MODELS_DIR: modelsDir }), /digits\.onnx.*sha256|sha256.*digits\.onnx/s);
    rmSync(modelsDir, { recursive: true, force: true });
  });
});
