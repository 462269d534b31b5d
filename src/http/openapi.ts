/**
 * The JSON API's routes and its OpenAPI document come from ONE declaration per endpoint: `apiRoute` registers
 * the OpenAPI operation and mounts the Express handler with zod validation of body, query and params, using
 * the same zod schemas for both. The document at /api/openapi.json can therefore not drift from the code.
 *
 * How a feature adds an endpoint:
 *   1. In src/features/<feature>/<feature>.api.ts, write the request and response zod schemas (name the ones
 *      worth a component with `.openapi('Name')`) and export a function that declares the routes:
 *
 *        export function declareThingsApi(api: ApiRoutes, { things }: { things: ThingsService }) {
 *          apiRoute(api, {
 *            method: 'get', path: '/v1/things/:id', auth: true, tags: ['Things'], summary: 'One of my things',
 *            params: z.object({ id: z.coerce.number().int().positive() }),
 *            responses: { 200: { description: 'The thing', schema: ThingSchema } },
 *          }, ({ params, user }) => things.get(user.id, params.id));
 *        }
 *
 *      `path` is relative to /api in Express syntax (`:id`); the document shows `/api/v1/things/{id}`.
 *      `auth: true` runs requireApiUser first (Bearer token; the handler gets `user`) and documents bearerAuth.
 *      The handler returns the JSON body (sent with the first 2xx status of `responses`), or answers through
 *      `res` itself. It throws AppErrors like any route; 401/422/429 error responses are documented for you.
 *      Uploads: `multipart: { files: { image: 'The photo' } }` parses multipart/form-data AFTER authentication
 *      (strangers cannot make the server buffer uploads); `body` then validates the text fields, the files are
 *      in req.files (check them with src/ml/image-input.ts).
 *   2. Call `declareThingsApi(api, ...)` in src/api-router.ts. Nothing else: no separate path list.
 */
import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV3, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { UnauthorizedError, UnsupportedMediaTypeError, ValidationError, type FieldErrors } from './errors.js';
import { multipartParser, type UploadLimits } from './uploads.js';

extendZodWithOpenApi(z);

export { z };

/** The one error body of the API (see error-handler.ts). */
export const ApiErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string().openapi({ example: 'Invalid request: username: Enter a username.' }),
      fields: z.record(z.string(), z.string()).optional().openapi({ description: 'For 422: a message per offending field.' }),
      request_id: z.string().optional().openapi({ description: 'For 5xx: quote it when reporting the problem.' }),
    }),
  })
  .openapi('Error');

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ApiResponseSpec {
  description: string;
  /** The JSON body; leave out for an empty response (204) or a non-JSON one. */
  schema?: z.ZodType;
}

export interface ApiRouteSpec<Body extends z.ZodType | undefined, Query extends z.ZodType | undefined, Params extends z.ZodType | undefined, Auth extends boolean> {
  method: Method;
  /** Relative to /api, Express syntax: `/v1/things/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  /** true: Bearer token required (requireApiUser runs first, the handler gets `user`). */
  auth: Auth;
  body?: Body;
  query?: Query;
  params?: Params;
  /**
   * The body is multipart/form-data with these file fields (name → description); `body` validates the text fields.
   * `maxFiles` and `maxFileBytes` override UPLOAD_MAX_FILES and UPLOAD_MAX_FILE_MB for this route (a zip archive is larger than an image); with `orJson`, a JSON body validated by `body` is accepted instead;
   * with `memoryBytes`, files up to that size arrive in memory (file.buffer) rather than on disk (file.path).
   */
  multipart?: { files: Record<string, string>; maxFiles?: number; maxFileBytes?: number; orJson?: boolean; memoryBytes?: number };
  responses: Record<number, ApiResponseSpec>;
  /** Middleware that runs before authentication and validation, e.g. a stricter rate limit. */
  before?: RequestHandler[];
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface ApiInput<Body, Query, Params, Auth extends boolean> {
  body: Parsed<Body>;
  query: Parsed<Query>;
  params: Parsed<Params>;
  user: Auth extends true ? Express.User : Express.User | undefined;
  req: Request;
  res: Response;
}

export interface ApiRoutes {
  /** Mounted at /api by the API router. */
  router: Router;
  registry: OpenAPIRegistry;
  requireApiUser: RequestHandler;
  uploadLimits: UploadLimits;
}

/** Declares one API endpoint: its OpenAPI operation and its validated Express route. */
export function apiRoute<
  Body extends z.ZodType | undefined = undefined,
  Query extends z.ZodType | undefined = undefined,
  Params extends z.ZodType | undefined = undefined,
  Auth extends boolean = boolean,
>(
  api: ApiRoutes,
  spec: ApiRouteSpec<Body, Query, Params, Auth>,
  handler: (input: ApiInput<Body, Query, Params, Auth>) => unknown,
): void {
  api.registry.registerPath(toOpenApiRoute(spec));

  const successStatus = Number(Object.keys(spec.responses).find((status) => Number(status) >= 200 && Number(status) < 300) ?? 200);
  const chain: RequestHandler[] = [...(spec.before ?? [])];
  if (spec.auth) chain.push(api.requireApiUser);
  if (spec.multipart) {
    const { maxFiles = api.uploadLimits.maxFiles, maxFileBytes = api.uploadLimits.maxFileBytes, orJson = false, memoryBytes = 0 } = spec.multipart;
    chain.push(apiMultipart({ ...api.uploadLimits, maxFiles, maxFileBytes }, { orJson, memoryBytes }));
  }
  chain.push(async (req, res) => {
    const fields: FieldErrors = {};
    const body = validate(spec.body, req.body ?? {}, fields);
    const query = validate(spec.query, req.query, fields);
    const params = validate(spec.params, req.params, fields);
    if (Object.keys(fields).length) {
      const summary = Object.entries(fields).map(([field, message]) => `${field}: ${message.replace(/\.$/, '')}`).join('; ');
      throw new ValidationError(`Invalid request: ${summary}.`, fields);
    }
    const input = { body, query, params, user: req.user, req, res } as ApiInput<Body, Query, Params, Auth>;
    const result = await handler(input);
    if (res.headersSent) return;
    // API answers are per user: no shared cache may keep them.
    res.set('Cache-Control', 'no-store');
    if (result === undefined) res.status(successStatus).end();
    else res.status(successStatus).json(result);
  });
  api.router[spec.method](spec.path, ...chain);
}

function validate(schema: z.ZodType | undefined, value: unknown, fields: FieldErrors): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    const field = issue.path.map(String).join('.') || 'body';
    fields[field] ??= issue.message;
  }
  return undefined;
}

/**
 * Multipart parsing for API uploads. Use it only AFTER requireApiUser, so that an unauthenticated client
 * cannot make the server buffer files; `apiRoute` does that for routes that declare `multipart`.
 */
export function apiMultipart(limits: UploadLimits, { orJson = false, memoryBytes = 0 } = {}): RequestHandler {
  const parse = multipartParser(limits, { memoryBytes });
  return (req, res, next) => {
    if (!req.user) throw new UnauthorizedError('Authentication required before uploading files.');
    // The JSON body was parsed (within its own size limit) before the API router.
    if (orJson && req.is('application/json')) return next();
    if (!req.is('multipart/form-data')) throw new UnsupportedMediaTypeError(`Send this request as multipart/form-data${orJson ? ' or JSON' : ''}.`);
    parse(req, res, next);
  };
}

const jsonContent = (schema: z.ZodType) => ({ 'application/json': { schema } });

const standardErrors = {
  401: 'Missing, malformed, invalid or expired Bearer token, or the account is disabled.',
  422: 'The request did not pass validation; error.fields names each offending field.',
  429: 'Too many requests; the Retry-After header says how many seconds to wait.',
} as const;

function toOpenApiRoute(spec: ApiRouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined, boolean>): RouteConfig {
  const responses: RouteConfig['responses'] = {};
  for (const [status, { description, schema }] of Object.entries(spec.responses)) {
    responses[status] = schema ? { description, content: jsonContent(schema) } : { description };
  }
  const errorResponse = (status: keyof typeof standardErrors) => {
    responses[status] ??= { description: standardErrors[status], content: jsonContent(ApiErrorSchema) };
  };
  if (spec.auth) errorResponse(401);
  if (spec.body || spec.query || spec.params || spec.multipart) errorResponse(422);
  errorResponse(429);

  const request: NonNullable<RouteConfig['request']> = {};
  if (spec.query) request.query = spec.query as NonNullable<typeof request.query>;
  if (spec.params) request.params = spec.params as NonNullable<typeof request.params>;
  if (spec.multipart) {
    const files = Object.fromEntries(
      Object.entries(spec.multipart.files).map(([name, description]) => [name, z.string().openapi({ type: 'string', format: 'binary', description })]),
    );
    const textFields = spec.body instanceof z.ZodObject ? spec.body : z.object({});
    const json = spec.multipart.orJson && spec.body ? jsonContent(spec.body) : {};
    request.body = { required: true, content: { 'multipart/form-data': { schema: textFields.extend(files) }, ...json } };
  } else if (spec.body) {
    request.body = { required: true, content: jsonContent(spec.body) };
  }

  return {
    method: spec.method,
    path: `/api${spec.path.replace(/:(\w+)/g, '{$1}')}`,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.tags ? { tags: spec.tags } : {}),
    ...(spec.auth ? { security: [{ bearerAuth: [] }] } : { security: [] }),
    ...(Object.keys(request).length ? { request } : {}),
    responses,
  };
}

/** A fresh registry with the bearerAuth scheme and the error schema, and the router the routes go on. */
export function createApiRoutes({ requireApiUser, uploadLimits }: { requireApiUser: RequestHandler; uploadLimits: UploadLimits }): ApiRoutes & { document(): object } {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A token from POST /api/v1/auth/token, valid for one hour.',
  });
  registry.register('Error', ApiErrorSchema);

  let document: object | undefined;
  return {
    router: Router(),
    registry,
    requireApiUser,
    uploadLimits,
    // Generated on first request, after every feature has declared its routes; the routes never change afterwards.
    document: () =>
      (document ??= new OpenApiGeneratorV3(registry.definitions).generateDocument({
        openapi: '3.0.3',
        info: {
          title: 'Inkwell API',
          version: '1',
          description: 'JSON API of Inkwell. Get a token with POST /api/v1/auth/token, then send it as `Authorization: Bearer <token>`.',
        },
      })),
  };
}

/**
 * /openapi.json and the Swagger UI at /docs, in the app's layout with a way back (views/api/docs.ejs). Swagger
 * UI's files are static assets (assets.ts: compressed, cached for a year); the page's script is
 * public/js/swagger-init.js. Swagger UI sets inline style attributes, so this page alone relaxes style-src
 * with 'unsafe-inline' — scripts stay 'self' only.
 */
export function createApiDocsRouter(document: () => object): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document());
  });
  router.get('/docs', (req, res) => {
    const csp = String(res.getHeader('Content-Security-Policy') ?? '');
    if (csp) res.setHeader('Content-Security-Policy', csp.replace(/style-src ([^;]*)/, (directive) => `${directive} 'unsafe-inline'`));
    res.render('api/docs', {
      title: 'API documentation',
      plainHeader: true,
      specUrl: `${req.baseUrl}/openapi.json`,
      styles: ['/api/docs/assets/swagger-ui.css'],
      scripts: ['/api/docs/assets/swagger-ui-bundle.js', '/js/swagger-init.js'],
    });
  });
  return router;
}
