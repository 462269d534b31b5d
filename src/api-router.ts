import { Router, type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createTokenService, declareAccountsApi, type AccountsService } from './features/accounts/index.js';
import { declareImagesApi, type ImagesService } from './features/images/index.js';
import { declareDatasetsApi, type DatasetsService } from './features/datasets/index.js';
import { declareDigitsApi, type DigitsService } from './features/digits/index.js';
import { declareSignaturesApi, type SignaturesService } from './features/signatures/index.js';
import { declareModelVersionsApi, type ModelJobs, type ModelVersionsService } from './features/models/index.js';
import { createPerMinuteRateLimit } from './http/rate-limit.js';
import { bearerToken, createRequireApiUser } from './http/bearer-auth.js';
import { notFound } from './http/error-handler.js';
import { AppError } from './http/errors.js';
import { createApiDocsRouter, createApiRoutes } from './http/openapi.js';
import type { UploadLimits } from './http/uploads.js';

/**
 * Everything under /api. It is mounted BEFORE the session middleware: no cookie is read or set here, so
 * requests authenticate with a Bearer token only and need no CSRF token. Features declare their endpoints
 * with `apiRoute` (see openapi.ts), which also puts them in /api/openapi.json.
 */
export interface ApiRouterDeps {
  config: Config;
  logger: Logger;
  accounts: AccountsService;
  images: ImagesService;
  datasets: DatasetsService;
  digits: DigitsService;
  signatures: SignaturesService;
  /** Versions of the digit and signature models (administrators). */
  modelVersions: ModelVersionsService;
  /** Model evaluations and training jobs (administrators). */
  modelJobs: Pick<ModelJobs, 'declareApi'>;
  uploadLimits: UploadLimits;
  tokenSecret: string;
  /** Shared with the login form (createLoginRateLimit). */
  loginRateLimit: RequestHandler[];
}

export function createApiRouter({ config, logger, accounts, images, datasets, digits, signatures, modelJobs, modelVersions, uploadLimits, tokenSecret, loginRateLimit }: ApiRouterDeps): Router {
  const tokens = createTokenService({ tokenSecret, accounts });
  const tokenSubject = async (req: Request): Promise<number | null> => {
    try {
      return await tokens.subjectOrNull(bearerToken(req.headers.authorization));
    } catch {
      return null;
    }
  };

  const router = Router();
  // First, so that every API request counts, refused ones included.
  router.use(createPerMinuteRateLimit({ perMinute: config.rateLimits.apiPerMinute, subjectOf: tokenSubject, what: 'API requests', logger }));

  const api = createApiRoutes({ requireApiUser: createRequireApiUser(tokens), uploadLimits });
  declareAccountsApi(api, { tokens, loginRateLimit });
  declareImagesApi(api, { images });
  declareDatasetsApi(api, { datasets, archiveLimits: { maxFileBytes: config.datasetImport.maxArchiveBytes, maxFiles: 1 } });
  declareDigitsApi(api, { digits, batchMaxFiles: config.digits.batchMaxFiles });
  declareSignaturesApi(api, { signatures });
  declareModelVersionsApi(api, { versions: modelVersions, maxUploadBytes: config.modelVersions.maxUploadBytes });
  modelJobs.declareApi(api);
  router.use(api.router);
  router.use(createApiDocsRouter(api.document));

  router.use(notFound);
  router.use(challengeOn401);
  return router;
}

/** RFC 7235: a 401 carries WWW-Authenticate. requireApiUser sets a precise one; this covers the others (e.g. bad credentials). */
const challengeOn401: ErrorRequestHandler = (err, _req, res, next) => {
  if (err instanceof AppError && err.status === 401 && !res.headersSent && !res.hasHeader('WWW-Authenticate')) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="inkwell"');
  }
  next(err);
};
