import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { projectRoot } from './paths.js';

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * Express's "trust proxy": false (default, direct connections), true, a hop count, or a list of
 * addresses/subnets such as "loopback" or "10.0.0.0/8".
 */
const trustProxy = z
  .string()
  .trim()
  .transform((value): boolean | number | string => {
    if (['false', '0', ''].includes(value)) return false;
    if (value === 'true') return true;
    if (/^\d+$/.test(value)) return Number(value);
    return value;
  });

const integer = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: integer(0, 65535).default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATA_DIR: z.string().min(1).default('data'),
    UPLOAD_DIR: z.string().min(1).default('uploads'),
    MODELS_DIR: z.string().min(1).default('models'),
    SESSION_SECRET: z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
    TRUST_PROXY: trustProxy.default(false),
    TLS_CERT_FILE: z.string().min(1).optional(),
    TLS_KEY_FILE: z.string().min(1).optional(),
    BCRYPT_COST: integer(4, 15).default(12),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    UPLOAD_MAX_FILE_MB: integer(1, 100).default(10),
    UPLOAD_MAX_FILES: integer(1, 200).default(20),
    IMAGE_MAX_MEGAPIXELS: integer(1, 200).default(50),
    REQUEST_LOG_RETENTION_DAYS: integer(1, 3650).default(90),
    LOGIN_RATE_LIMIT: integer(1, 1000).default(10),
    API_RATE_LIMIT: integer(1, 100000).default(300),
    WEB_RATE_LIMIT: integer(1, 100000).default(600),
    STORAGE_QUOTA_MB: integer(1, 10_000_000).default(1024),
    REMBG_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    REMOVE_BG_API_KEY: z.string().min(8, { message: 'must be at least 8 characters' }).optional(),
    REMOVE_BG_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).default('https://api.remove.bg/v1.0/removebg'),
    BACKGROUND_PROVIDER_TIMEOUT_S: integer(1, 600).default(60),
    COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
    DATASET_IMPORT_MAX_MB: integer(1, 100_000).default(1024),
    DATASET_IMPORT_MAX_UNCOMPRESSED_MB: integer(1, 1_000_000).default(2048),
    DATASET_IMPORT_MAX_ENTRIES: integer(1, 1_000_000).default(50_000),
    DIGITS_BATCH_MAX_FILES: integer(1, 200).default(50),
    // The largest .onnx file an administrator may upload as a model version (src/features/models).
    MODEL_UPLOAD_MAX_MB: integer(1, 10_000).default(200),
    REGISTRATION: z.enum(['open', 'invite', 'closed'], { message: 'must be open, invite or closed' }).default('invite'),
    // Scoring compares the references with each other, so it needs at least 2.
    SIGNATURE_MIN_REFERENCES: integer(2, 100).default(3),
    SIGNATURE_MAX_REFERENCES: integer(2, 100).default(20),
    // Retraining the digit model (src/features/models/training.*): the Python with torch, its threads, and MNIST's folder.
    TRAINING_PYTHON: z.string().min(1).default('/usr/bin/python3'),
    TRAINING_THREADS: integer(1, 64).default(1),
    TRAINING_DATA_DIR: z.string().min(1).default('../shared/datasets'),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'],
        message: 'TLS_CERT_FILE and TLS_KEY_FILE must be set together',
      });
    }
    if (env.SIGNATURE_MIN_REFERENCES > env.SIGNATURE_MAX_REFERENCES) {
      ctx.addIssue({ code: 'custom', path: ['SIGNATURE_MIN_REFERENCES'], message: 'must not be more than SIGNATURE_MAX_REFERENCES' });
    }
    // Cost 12 is the floor for real deployments; only the test suite may go lower to stay fast.
    if (env.BCRYPT_COST < 12 && env.NODE_ENV !== 'test') {
      ctx.addIssue({ code: 'custom', path: ['BCRYPT_COST'], message: 'must be at least 12' });
    }
  });

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const resolveFromRoot = (p: string) => path.resolve(projectRoot, p);

function buildConfig(env: z.infer<typeof envSchema>) {
  return {
    env: env.NODE_ENV,
    isProduction: env.NODE_ENV === 'production',
    port: env.PORT,
    host: env.HOST,
    dataDir: resolveFromRoot(env.DATA_DIR),
    uploadDir: resolveFromRoot(env.UPLOAD_DIR),
    modelsDir: resolveFromRoot(env.MODELS_DIR),
    databaseFile: path.join(resolveFromRoot(env.DATA_DIR), 'inkwell.sqlite'),
    sessionSecret: env.SESSION_SECRET,
    trustProxy: env.TRUST_PROXY,
    tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { certFile: resolveFromRoot(env.TLS_CERT_FILE), keyFile: resolveFromRoot(env.TLS_KEY_FILE) } : null,
    cookieSecure: env.COOKIE_SECURE === 'auto' ? ('auto' as const) : env.COOKIE_SECURE === 'true',
    bcryptCost: env.BCRYPT_COST,
    logLevel: env.LOG_LEVEL,
    uploads: {
      maxFileBytes: env.UPLOAD_MAX_FILE_MB * 1024 * 1024,
      maxFiles: env.UPLOAD_MAX_FILES,
      maxImagePixels: env.IMAGE_MAX_MEGAPIXELS * 1_000_000,
    },
    storageQuotaBytes: env.STORAGE_QUOTA_MB * 1024 * 1024,
    backgroundProviders: {
      // Both off unless configured: with either set, a photo leaves this server when the user picks that provider.
      rembgUrl: env.REMBG_URL ?? null,
      removeBgApiKey: env.REMOVE_BG_API_KEY ?? null,
      removeBgUrl: env.REMOVE_BG_URL,
      timeoutMs: env.BACKGROUND_PROVIDER_TIMEOUT_S * 1000,
    },
    requestLogRetentionDays: env.REQUEST_LOG_RETENTION_DAYS,
    /** The registration policy until an administrator sets one on the admin pages. */
    registration: env.REGISTRATION,
    signatures: { minReferences: env.SIGNATURE_MIN_REFERENCES, maxReferences: env.SIGNATURE_MAX_REFERENCES },
    rateLimits: { loginPerWindow: env.LOGIN_RATE_LIMIT, apiPerMinute: env.API_RATE_LIMIT, webWritesPerMinute: env.WEB_RATE_LIMIT },
    // Zip imports into datasets: the archive's size, and what it may inflate to (counted while inflating).
    datasetImport: {
      maxArchiveBytes: env.DATASET_IMPORT_MAX_MB * 1024 * 1024,
      maxUncompressedBytes: env.DATASET_IMPORT_MAX_UNCOMPRESSED_MB * 1024 * 1024,
      maxEntries: env.DATASET_IMPORT_MAX_ENTRIES,
    },
    digits: { batchMaxFiles: env.DIGITS_BATCH_MAX_FILES },
    modelVersions: { maxUploadBytes: env.MODEL_UPLOAD_MAX_MB * 1024 * 1024 },
    training: { python: env.TRAINING_PYTHON, threads: env.TRAINING_THREADS, dataDir: resolveFromRoot(env.TRAINING_DATA_DIR) },
  };
}

export type Config = Readonly<ReturnType<typeof buildConfig>>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Variables whose values are never repeated in a message: they would end up in logs (a URL may carry a password). */
const SECRET_KEYS = new Set(['SESSION_SECRET', 'REMOVE_BG_API_KEY', 'REMBG_URL']);

/**
 * Parses the environment once. Every invalid variable is named in the error, one per line, e.g.
 * `PORT must be at most 65535 (got "70000")`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(envSchema.shape).map((key) => [key, env[key] === '' ? undefined : env[key]]),
  );
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? 'environment');
      const got = env[key] === undefined || SECRET_KEYS.has(key) ? '' : ` (got "${env[key]}")`;
      return `${key} ${issue.message}${got}`;
    });
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  return deepFreeze(buildConfig(parsed.data));
}

/**
 * The session secret from the environment, or one generated on first start and kept in DATA_DIR so that
 * sessions survive restarts. Never a constant in the code.
 */
export function resolveSessionSecret(config: Config): string {
  if (config.sessionSecret) return config.sessionSecret;
  const file = path.join(config.dataDir, 'session-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}
