import path from 'node:path';
import express, { type Express } from 'express';
import session from 'express-session';
import flash from 'connect-flash';
import type { Config } from './config.js';
import type { Db } from './db/database.js';
import type { Logger } from './logger.js';
import { projectRoot, publicDir, viewsDir } from './paths.js';
import {
  createAccountsService,
  createAccountsWebRouter,
  createPasswordResetsService,
  createRegistrationService,
  createSessionAuth,
  requireOwnPassword,
} from './features/accounts/index.js';
import { createAdminWebRouter, type UserUsageSource } from './features/admin/index.js';
import { createHealthRouter, createProbeCounter, type ModelsStatus } from './features/health/index.js';
import { createHomeRouter } from './features/home/home.web.js';
import { createBackgroundProviders, createImagesService, createImagesWebRouter } from './features/images/index.js';
import { createDatasetsService, createDatasetsWebRouters } from './features/datasets/index.js';
import { createDigitsService, createDigitsWebRouter } from './features/digits/index.js';
import { createSignaturesService, createSignaturesWebRouter } from './features/signatures/index.js';
import { createModelJobs, createModelsWebRouters, createModelVersionsService } from './features/models/index.js';
import { createApiRouter } from './api-router.js';
import { appAssetMounts, createAssets, precompressedAssetsDir } from './http/assets.js';
import { verifyCsrf } from './http/csrf.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { requestContext } from './http/request-context.js';
import { createLoginRateLimit, createPasswordCheckRateLimit, createPerMinuteRateLimit, isRead } from './http/rate-limit.js';
import { createRequestLog } from './http/request-log.js';
import { securityHeaders } from './http/security.js';
import { SqliteSessionStore } from './http/session-store.js';
import { webMultipart } from './http/uploads.js';
import { baseLocals, pageLocals, useEjsWithLayout } from './http/views.js';
import type { BackgroundRemover, Models } from './ml/index.js';
import { createImageStore, type ImageStore } from './storage/index.js';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  sessionSecret: string;
  /** The loaded models, or null while they are not (then /ready answers 503). */
  models: ModelsStatus | null;
  /** Background removal; null where it is not loaded (removal then answers 503). */
  background?: BackgroundRemover | null;
  /** The models themselves; null where they are not loaded (their features then answer 503). */
  ml?: Models | null;
}

export interface App {
  app: Express;
  /** The image store, for the start-up sweep (server.ts) and tests. */
  store: ImageStore;
  /** The one-time code for creating the first administrator while there is none (server.ts logs it), else null. */
  setupCode(): string | null;
  /** Writes the request log's buffered rows and security events now (tests; they are written every second anyway). */
  flushRequestLog(): void;
  /** Stops timers and flushes buffers (digit predictions are written then); the caller closes the database afterwards. */
  close(): Promise<void>;
}

/** Builds the whole web application from its dependencies. No listen, no module state: tests start it in-process. */
export function createApp({ config, db, logger, sessionSecret, models, background = null, ml = null }: AppDeps): App {
  const app = express();
  app.set('trust proxy', config.trustProxy);
  useEjsWithLayout(app, viewsDir, config.isProduction);

  const store = createImageStore({ db, uploadDir: config.uploadDir, maxPixels: config.uploads.maxImagePixels, quotaBytes: config.storageQuotaBytes });
  const accounts = createAccountsService({ db, bcryptCost: config.bcryptCost, afterAccountDeleted: (userId) => store.removeUser(userId) });
  const uploadLimits = { ...config.uploads, incomingDir: store.incomingDir };
  const registration = createRegistrationService({ db, accounts, defaultPolicy: config.registration });
  const resets = createPasswordResetsService({ db, accounts });
  const images = createImagesService({ db, store, background, providers: createBackgroundProviders(config.backgroundProviders) });
  const datasets = createDatasetsService({
    db,
    store,
    library: images,
    importLimits: { maxEntries: config.datasetImport.maxEntries, maxEntryBytes: config.uploads.maxFileBytes, maxTotalBytes: config.datasetImport.maxUncompressedBytes },
  });
  const digits = createDigitsService({ db, store, logger, model: ml?.digits ?? null, libraryImage: (userId, id) => images.get(userId, id), datasets });
  const datasetsWeb = createDatasetsWebRouters({ datasets, images, uploadLimits, maxArchiveBytes: config.datasetImport.maxArchiveBytes });
  const signatures = createSignaturesService({ db, store, images, model: ml?.signatures ?? null, limits: { ...config.signatures, maxPixels: config.uploads.maxImagePixels } });
  // Versions of the digit and signature models (shipped ones registered here), activated without a restart.
  const modelVersions = createModelVersionsService({ db, ml, modelsDir: config.modelsDir, dataDir: config.dataDir, logger });
  // Model evaluations and retraining (background jobs; an interrupted one is marked failed here, at start-up).
  const modelJobs = createModelJobs({
    db,
    logger,
    store,
    accounts,
    datasets,
    catalogue: modelVersions,
    register: modelVersions.registerVersion,
    config: { modelsDir: config.modelsDir, dataDir: config.dataDir, maxPixels: config.uploads.maxImagePixels, training: config.training },
  });
  const modelsWeb = createModelsWebRouters({
    versions: modelVersions,
    uploadLimits,
    maxUploadBytes: config.modelVersions.maxUploadBytes,
    latestEvaluations: (model) => modelJobs.evaluations.latestByVersion(model),
  });
  // What each feature stores per user, for the admin user pages: a feature adds its line here.
  const userUsage: UserUsageSource[] = [
    { label: 'library images', unit: 'items', byUser: () => images.countByUser() },
    { label: 'image storage', unit: 'bytes', byUser: () => store.usageByUser() },
    { label: 'signers', unit: 'items', byUser: () => signatures.signers.countByUser() },
    { label: 'datasets', unit: 'items', byUser: () => datasets.countByUser() },
    { label: 'digit predictions', unit: 'items', byUser: () => digits.countByUser() },
  ];
  const sessionAuth = createSessionAuth(accounts);
  const sessionStore = new SqliteSessionStore(db);
  // One set of counters for the login form and the token endpoint: both guess the same passwords.
  const loginRateLimit = createLoginRateLimit(config);
  const passwordCheckRateLimit = createPasswordCheckRateLimit(config);
  const requestLog = createRequestLog({ db, logger, retentionDays: config.requestLogRetentionDays });
  const assets = createAssets({ mounts: appAssetMounts(), precompressedDir: precompressedAssetsDir });
  const probes = createProbeCounter();
  // For every page: cache-busting asset addresses, and whether to offer registration (nav, home, login).
  app.locals.asset = assets.url;
  app.locals.canRegister = () => registration.canRegister();

  app.use(requestContext);
  app.use(baseLocals);
  app.use(securityHeaders({ https: Boolean(config.tls) }));

  // Static files and the health checks come before the request log: they are not recorded (the checks are
  // counted apart, see features/health).
  app.use(assets.middleware);
  const staticOptions = { index: false, maxAge: config.isProduction ? '1d' : 0 };
  app.use(express.static(publicDir, staticOptions));
  app.use('/vendor/pico', express.static(path.join(projectRoot, 'node_modules/@picocss/pico/css'), staticOptions));
  app.use('/vendor/chart.js', express.static(path.join(projectRoot, 'node_modules/chart.js/dist'), staticOptions));
  app.use(createHealthRouter({ db, models, probes }));

  app.use(requestLog.middleware);
  app.use(express.urlencoded({ extended: false, limit: '100kb' }));
  app.use(express.json({ limit: '1mb' }));

  // The API comes before sessions: it authenticates with Bearer tokens only, never a cookie, so needs no CSRF.
  app.use('/api', createApiRouter({ config, logger, accounts, images, datasets, digits, signatures, modelJobs, modelVersions, uploadLimits, tokenSecret: sessionSecret, loginRateLimit }));

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
  // Before any upload is parsed (and after pageLocals, so that the 429 page shows who is signed in): a flood of form
  // posts or uploads from one account (or address) stops here.
  app.use(
    createPerMinuteRateLimit({ perMinute: config.rateLimits.webWritesPerMinute, subjectOf: (req) => req.user?.id ?? null, what: 'changes and uploads', skip: isRead, logger }),
  );
  // Before every page and upload: a user with a temporary password chooses their own first.
  app.use(requireOwnPassword);
  // The dataset zip import parses its own (larger) multipart body and checks CSRF itself: before webMultipart.
  app.use(datasetsWeb.archiveUpload);
  // Likewise the model upload (an ONNX file of up to MODEL_UPLOAD_MAX_MB): administrators only, CSRF checked after parsing.
  app.use(modelsWeb.upload);
  // Order matters: multipart bodies must be parsed (multer) before verifyCsrf can read their _csrf field.
  app.use(webMultipart(uploadLimits));
  app.use(verifyCsrf);

  app.use(createHomeRouter());
  app.use(createAccountsWebRouter({ accounts, registration, resets, sessionAuth, loginRateLimit, passwordCheckRateLimit, storageUsage: (userId) => store.usage(userId) }));
  app.use(createImagesWebRouter({ images, maxFileBytes: config.uploads.maxFileBytes, maxFiles: config.uploads.maxFiles }));
  app.use(datasetsWeb.pages);
  app.use(createDigitsWebRouter({ digits, maxFileBytes: config.uploads.maxFileBytes, maxFiles: config.digits.batchMaxFiles }));
  app.use(createSignaturesWebRouter({ signatures, maxFileBytes: config.uploads.maxFileBytes, maxFiles: config.uploads.maxFiles }));
  app.use(modelsWeb.pages);
  // Before the admin section: its last handler refuses every other /admin path.
  app.use('/admin/models', modelJobs.webRouter());
  app.use('/admin', createAdminWebRouter({ db, accounts, registration, resets, usage: userUsage, probes: probes.counts, flushLog: () => requestLog.flush() }));

  app.use(notFound);
  app.use(errorHandler(logger, config.uploads.maxFileBytes));

  return {
    app,
    store,
    setupCode: () => registration.setupCode(),
    flushRequestLog: () => requestLog.flush(),
    async close() {
      requestLog.close();
      sessionStore.close();
      await digits.close();
      await modelJobs.close();
    },
  };
}
