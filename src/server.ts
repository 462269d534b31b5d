import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createApp } from './app.js';
import { ConfigError, loadConfig, resolveSessionSecret } from './config.js';
import { openMigratedDatabase } from './db/migrate.js';
import { createLogger } from './logger.js';
import { loadBackgroundRemover, loadModels, ModelLoadError } from './ml/index.js';
import { restoreActiveModels } from './features/models/index.js';

/** Composition root, in stages: config -> database -> migrations -> models -> app -> listen; then graceful stop. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  const { db, applied } = openMigratedDatabase(config.databaseFile);
  if (applied.length) logger.info({ applied }, 'database migrated');

  let models;
  let background;
  try {
    const options = { modelsDir: config.modelsDir, maxPixels: config.uploads.maxImagePixels };
    [models, background] = await Promise.all([loadModels(options), loadBackgroundRemover(options)]);
  } catch (err) {
    if (err instanceof ModelLoadError) {
      console.error(err.message);
      db.close();
      process.exit(1);
    }
    throw err;
  }
  // The version an administrator activated last answers again (src/features/models); if it cannot be loaded, the
  // shipped one does and the admin page says why.
  await restoreActiveModels({ db, ml: models, modelsDir: config.modelsDir, dataDir: config.dataDir, logger });
  // /ready and the log report every model, background removal's included; the active versions live (an admin may
  // activate another version of digits or signatures at run time, see src/features/models).
  const versions = () => ({ ...models.versions(), u2netp: background.version });
  const modelsStatus = { versions };
  logger.info({ models: versions() }, 'models loaded');

  const { app, store, setupCode, close: closeApp } = createApp({ config, db, logger, sessionSecret: resolveSessionSecret(config), models: modelsStatus, background, ml: models });
  // Files left by a crash between writing an image and committing its row (see src/storage).
  const swept = await store.sweep();
  if (swept) logger.info({ files: swept }, 'removed image files that no row refers to');
  const server = config.tls
    ? https.createServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }, app)
    : http.createServer(app);

  server.listen(config.port, config.host, () => {
    const scheme = config.tls ? 'https' : 'http';
    const host = config.host === '0.0.0.0' ? 'localhost' : config.host;
    const { port } = server.address() as { port: number };
    const url = `${scheme}://${host}:${port}`;
    logger.info({ url }, 'Inkwell is listening');
    // First start: nobody may become administrator without this code, which only the operator can read here.
    const code = setupCode();
    if (code) {
      logger.warn(
        { setupCode: code, registerUrl: `${url}/register` },
        `No administrator yet. Open ${url}/register and enter the setup code ${code} to create the administrator account ` +
          '(the code works once and changes at every restart; or run: npm run admin -- create <name> --admin)',
      );
    }
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    // Stop accepting; idle keep-alive sockets are closed so that close() completes once requests finish.
    server.close(async () => {
      await closeApp();
      await Promise.all([models.close(), background.close()]);
      db.close();
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      logger.warn('in-flight requests did not finish within 10 s; exiting');
      process.exit(1);
    }, 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
