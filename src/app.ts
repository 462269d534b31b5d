import path from 'node:path';
import express, { type Express } from 'express';
import session from 'express-session';
import flash from 'connect-flash';
import type { Config } from './config.js';
import type { Db } from './db/database.js';
import type { Logger } from './logger.js';
import { projectRoot, publicDir, viewsDir } from './paths.js';
import { createAccountsService } from './features/accounts/index.js';
import { createSessionAuth } from './features/accounts/passport.js';
import { createAccountsWebRouter } from './features/accounts/accounts.web.js';
import { createAdminWebRouter } from './features/admin/index.js';
import { createHealthRouter, type ModelsStatus } from './features/health/health.routes.js';
import { createHomeRouter } from './features/home/home.web.js';
import { createBackgroundProviders, createImagesService, createImagesWebRouter } from './features/images/index.js';
import { createDigitsService, createDigitsWebRouter } from './features/digits/index.js';
import { createApiRouter } from './api-router.js';
import { verifyCsrf } from './http/csrf.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { requestContext } from './http/request-context.js';
import { createLoginRateLimit } from './http/rate-limit.js';
import { createRequestLog } from './http/request-log.js';
import { securityHeaders } from './http/security.js';
import { SqliteSessionStore } from './http/session-store.js';
import { webMultipart } from './http/uploads.js';
import { baseLocals, pageLocals, useEjsWithLayout } from './http/views.js';
import type { BackgroundRemover, DigitModel } from './ml/index.js';
import { createImageStore, type ImageStore } from './storage/index.js';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  sessionSecret: string;
  /**
   * The loaded models, or null while they are not (then /ready answers 503). A feature whose model is left out
   * (tests) answers 503 for what needs it.
   */
  models: AppModels | null;
  /** Background removal; null where it is not loaded (removal then answers 503). */
  background?: BackgroundRemover | null;
}

/** What the app uses of the models: their versions for /ready, and each model a feature calls. */
export interface AppModels extends ModelsStatus {
  digits?: DigitModel;
}

export interface App {
  app: Express;
  /** The image store, for the start-up sweep (server.ts) and tests. */
  store: ImageStore;
  /** Stops timers and flushes buffers (digit predictions are written then); the caller closes the database afterwards. */
  close(): Promise<void>;
}

/** Builds the whole web application from its dependencies. No listen, no module state: tests start it in-process. */
export function createApp({ config, db, logger, sessionSecret, models, background = null }: AppDeps): App {
  const app = express();
  app.set('trust proxy', config.trustProxy);
  useEjsWithLayout(app, viewsDir, config.isProduction);

  const store = createImageStore({ db, uploadDir: config.uploadDir, maxPixels: config.uploads.maxImagePixels, quotaBytes: config.storageQuotaBytes });
  const accounts = createAccountsService({ db, bcryptCost: config.bcryptCost, afterAccountDeleted: (userId) => store.removeUser(userId) });
  const uploadLimits = { ...config.uploads, incomingDir: store.incomingDir };
  const images = createImagesService({ db, store, background, providers: createBackgroundProviders(config.backgroundProviders) });
  const digits = createDigitsService({ db, store, logger, model: models?.digits ?? null, libraryImage: (userId, id) => images.get(userId, id) });
  const sessionAuth = createSessionAuth(accounts);
  const sessionStore = new SqliteSessionStore(db);
  // One set of counters for the login form and the token endpoint: both guess the same passwords.
  const loginRateLimit = createLoginRateLimit(config);
  const requestLog = createRequestLog({ db, logger, retentionDays: config.requestLogRetentionDays });

  app.use(requestContext);
  app.use(baseLocals);
  app.use(securityHeaders({ https: Boolean(config.tls) }));

  // Static files come before the request log: they are not recorded.
  const staticOptions = { index: false, maxAge: config.isProduction ? '1d' : 0 };
  app.use(express.static(publicDir, staticOptions));
  app.use('/vendor/pico', express.static(path.join(projectRoot, 'node_modules/@picocss/pico/css'), staticOptions));
  app.use('/vendor/chart.js', express.static(path.join(projectRoot, 'node_modules/chart.js/dist'), staticOptions));

  app.use(requestLog.middleware);
  app.use(createHealthRouter({ db, models }));
  app.use(express.urlencoded({ extended: false, limit: '100kb' }));
  app.use(express.json({ limit: '1mb' }));

  // The API comes before sessions: it authenticates with Bearer tokens only, never a cookie, so needs no CSRF.
  app.use('/api', createApiRouter({ config, logger, accounts, images, digits, uploadLimits, tokenSecret: sessionSecret, loginRateLimit }));

  app.use(
    session({
      name: 'inkwell.sid',
      secret: sessionSecret,
      store: sessionStore,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', secure: config.cookieSecure, maxAge: 7 * 24 * 60 * 60 * 1000 },
    }),
  );
  app.use(sessionAuth.initialize());
  app.use(sessionAuth.session());
  app.use(flash());
  app.use(pageLocals);
  // Order matters: multipart bodies must be parsed (multer) before verifyCsrf can read their _csrf field.
  app.use(webMultipart(uploadLimits));
  app.use(verifyCsrf);

  app.use(createHomeRouter());
  app.use(createAccountsWebRouter({ accounts, sessionAuth, loginRateLimit, storageUsage: (userId) => store.usage(userId) }));
  app.use(createImagesWebRouter({ images, maxFileBytes: config.uploads.maxFileBytes, maxFiles: config.uploads.maxFiles }));
  app.use(createDigitsWebRouter({ digits, maxFileBytes: config.uploads.maxFileBytes, maxFiles: config.digits.batchMaxFiles }));
  app.use('/admin', createAdminWebRouter({ db, accounts, config }));

  app.use(notFound);
  app.use(errorHandler(logger, config.uploads.maxFileBytes));

  return {
    app,
    store,
    async close() {
      requestLog.close();
      sessionStore.close();
      await digits.close();
    },
  };
}
