import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp, type AppDeps } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openMigratedDatabase } from '../../src/db/migrate.js';
import { createAccountsService, type Role } from '../../src/features/accounts/index.js';
import { createLogger } from '../../src/logger.js';

export type TestApp = ReturnType<typeof createTestApp>;

/** Each test app's first-administrator setup code (what the server prints at start), for registerVia. */
const setupCodes = new WeakMap<object, () => string | null>();
export const setupCodeOf = (app: object): string | null => setupCodes.get(app)?.() ?? null;

/** The session secret of every test app; API tests derive the token key from it. */
export const TEST_SESSION_SECRET = 'test-session-secret-that-is-long-enough';

/**
 * A whole application in-process on a fresh temporary data folder. `env` overrides the configuration
 * as environment variables would; bcrypt runs at its lowest cost to keep the suite fast.
 */
export function createTestApp({
  env = {},
  models = { versions: () => ({}) },
  background = null,
  ml = null,
}: { env?: Record<string, string>; models?: AppDeps['models']; background?: AppDeps['background']; ml?: AppDeps['ml'] } = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'inkwell-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    UPLOAD_DIR: path.join(dataDir, 'uploads'),
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    // Tests register several users freely; the policies themselves are tested with REGISTRATION set.
    REGISTRATION: 'open',
    ...env,
  });
  const { db } = openMigratedDatabase(config.databaseFile);
  const logger = createLogger(config.logLevel);
  const { app, store, setupCode, flushRequestLog, close } = createApp({ config, db, logger, sessionSecret: TEST_SESSION_SECRET, models, background, ml });
  setupCodes.set(app, setupCode);
  const accounts = createAccountsService({ db, bcryptCost: config.bcryptCost });

  return {
    app,
    store,
    config,
    db,
    dataDir,
    /** The one-time code for registering the first administrator (null once one exists). */
    setupCode,
    /** Writes the request log's buffered rows and security events at once. */
    flushRequestLog,
    /** Creates an account directly (no HTTP), for tests that need one to exist. */
    async createUser({ username = `user${Math.random().toString(36).slice(2, 8)}`, password = 'correct horse battery', role = 'user' as Role } = {}) {
      const user = accounts.users.insert(username, await accounts.hashPassword(password), role);
      return { ...user, password };
    },
    async close() {
      await close();
      db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
