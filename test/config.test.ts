import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, resolveSessionSecret } from '../src/config.js';
import { projectRoot } from '../src/paths.js';

describe('configuration', () => {
  it('when nothing is set, then the embedded defaults apply (port 3000, data/, uploads/, models/)', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.dataDir, path.join(projectRoot, 'data'));
    assert.equal(config.uploadDir, path.join(projectRoot, 'uploads'));
    assert.equal(config.modelsDir, path.join(projectRoot, 'models'));
    assert.equal(config.bcryptCost, 12);
    assert.equal(config.requestLogRetentionDays, 90);
    assert.equal(config.tls, null);
  });

  it('when a value is invalid, then the error names the variable and the value', () => {
    assert.throws(() => loadConfig({ PORT: 'abc' }), (err: Error) => err instanceof ConfigError && /PORT .*\(got "abc"\)/.test(err.message));
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT must be at most 65535/);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    assert.throws(() => loadConfig({ UPLOAD_MAX_FILES: '0' }), /UPLOAD_MAX_FILES must be at least 1/);
  });

  it('when only one of the TLS files is set, then start-up is refused', () => {
    assert.throws(() => loadConfig({ TLS_CERT_FILE: 'cert.pem' }), /TLS_KEY_FILE.*must be set together/);
    const config = loadConfig({ TLS_CERT_FILE: 'cert.pem', TLS_KEY_FILE: 'key.pem' });
    assert.equal(config.tls?.keyFile, path.join(projectRoot, 'key.pem'));
  });

  it('when BCRYPT_COST is below 12 outside the test suite, then it is refused', () => {
    assert.throws(() => loadConfig({ BCRYPT_COST: '8' }), /BCRYPT_COST must be at least 12/);
    assert.equal(loadConfig({ BCRYPT_COST: '4', NODE_ENV: 'test' }).bcryptCost, 4);
  });

  it('when TRUST_PROXY is a hop count or a subnet list, then Express gets that value', () => {
    assert.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1);
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy, 'loopback, 10.0.0.0/8');
    assert.equal(loadConfig({}).trustProxy, false);
  });

  it('when the configuration is loaded, then it cannot be changed', () => {
    const config = loadConfig({});
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (config.uploads as { maxFiles: number }).maxFiles = 1;
    }, TypeError);
  });

  describe('session secret', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-config-'));
    after(() => rmSync(dataDir, { recursive: true, force: true }));

    it('when SESSION_SECRET is absent, then one is generated on first start and kept in DATA_DIR', () => {
      const config = loadConfig({ DATA_DIR: dataDir });
      const first = resolveSessionSecret(config);
      assert.ok(first.length >= 48);
      assert.equal(readFileSync(path.join(dataDir, 'session-secret'), 'utf8').trim(), first);
      assert.equal(resolveSessionSecret(config), first);
    });

    it('when SESSION_SECRET is set, then it is used and nothing is written', () => {
      const other = mkdtempSync(path.join(os.tmpdir(), 'inkwell-config-'));
      const secret = 'x'.repeat(40);
      assert.equal(resolveSessionSecret(loadConfig({ DATA_DIR: other, SESSION_SECRET: secret })), secret);
      assert.equal(existsSync(path.join(other, 'session-secret')), false);
      rmSync(other, { recursive: true, force: true });
      assert.throws(() => loadConfig({ SESSION_SECRET: 'short' }), /SESSION_SECRET must be at least 32 characters/);
    });
  });

  it('when the server starts with a bad value, then it exits 1 with one clear line naming the variable', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src/server.ts')], {
      env: { ...process.env, PORT: 'not-a-port', NODE_ENV: 'test' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^Invalid configuration: PORT must be a number \(got "not-a-port"\)$/);
  });
});
