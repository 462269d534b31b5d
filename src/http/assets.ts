import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { RequestHandler, Response } from 'express';
import { projectRoot, publicDir } from '../paths.js';

/**
 * Static assets (the stylesheets, page scripts, chart.js, Swagger UI): every file is known at start-up with
 * the sha256 of its content, so pages link to `/assets/<hash>/<path>` (`asset('/css/app.css')`), which may be
 * cached for a year: a new version has a new address. They are sent brotli- or gzip-compressed as the
 * browser accepts, from files precompressed at build time (`npm run build`, src/cli/compress-assets.ts) or,
 * without a build (tests, `npm run dev`), compressed once on first use off the event loop and kept in memory.
 * The plain paths (`/css/app.css`) still work, with a short cache lifetime, for links from outside.
 */
export interface AssetMount {
  /** URL prefix, ending in "/": "/" for public/, "/vendor/pico/" for Pico. */
  prefix: string;
  dir: string;
  /** Only these files of `dir` (vendor packages hold far more than the pages load); all files when left out. */
  files?: string[];
}

interface Asset {
  file: string;
  hash: string;
  bytes: number;
  compressible: boolean;
}

export const HASH_LENGTH = 16;
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The plain paths: browsers check again after an hour (an ETag makes that a 304). */
const SHORT = 'public, max-age=3600';
const COMPRESSIBLE = new Set(['.css', '.js', '.mjs', '.json', '.svg', '.html', '.txt', '.map']);
/** Below this, compressing saves less than the header costs. */
const MIN_COMPRESS_BYTES = 1024;

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

export type Encoding = 'br' | 'gzip';
export const ENCODINGS: Encoding[] = ['br', 'gzip'];

/**
 * Compresses an asset. The build takes the smallest result (brotli 11: seconds of CPU for the 1.7 MB Swagger
 * bundle); at run time, where a visitor waits for it, a quick setting (brotli 5: a fraction of a second, 13 % larger).
 * Figures in bench/README.md.
 */
export function compressAsset(bytes: Buffer, encoding: Encoding, { best = false } = {}): Promise<Buffer> {
  return encoding === 'br'
    ? brotli(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: best ? 11 : 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } })
    : gzip(bytes, { level: best ? 9 : 6 });
}

/** Where `npm run build` leaves precompressed copies, named by content hash: `<sha256>.br`, `<sha256>.gz`. */
export const precompressedName = (hash: string, encoding: Encoding) => `${hash}.${encoding === 'br' ? 'br' : 'gz'}`;

function listFiles(dir: string, relative = ''): string[] {
  return readdirSync(path.join(dir, relative), { withFileTypes: true }).flatMap((entry) => {
    const name = path.posix.join(relative, entry.name);
    return entry.isDirectory() ? listFiles(dir, name) : entry.isFile() ? [name] : [];
  });
}

export type Assets = ReturnType<typeof createAssets>;

export function createAssets({ mounts, precompressedDir }: { mounts: AssetMount[]; precompressedDir: string }) {
  const byPath = new Map<string, Asset>();
  for (const { prefix, dir, files } of mounts) {
    for (const name of files ?? listFiles(dir)) {
      const file = path.join(dir, name);
      const content = readFileSync(file);
      byPath.set(prefix + name, {
        file,
        hash: createHash('sha256').update(content).digest('hex'),
        bytes: content.length,
        compressible: COMPRESSIBLE.has(path.extname(name)) && content.length >= MIN_COMPRESS_BYTES,
      });
    }
  }

  // One promise per file and encoding: concurrent first requests share one compression.
  const compressed = new Map<string, Promise<Buffer>>();
  function encoded(asset: Asset, encoding: Encoding): Promise<Buffer> {
    const key = `${asset.hash}.${encoding}`;
    let result = compressed.get(key);
    if (!result) {
      const built = path.join(precompressedDir, precompressedName(asset.hash, encoding));
      result = existsSync(built) ? readFile(built) : readFile(asset.file).then((bytes) => compressAsset(bytes, encoding));
      compressed.set(key, result);
    }
    return result;
  }

  async function send(res: Response, asset: Asset, acceptEncoding: string, cacheControl: string): Promise<void> {
    res.type(path.extname(asset.file));
    res.setHeader('Cache-Control', cacheControl);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (asset.compressible) res.setHeader('Vary', 'Accept-Encoding');
    const encoding = asset.compressible ? ENCODINGS.find((e) => new RegExp(`\\b${e}\\b`).test(acceptEncoding)) : undefined;
    const etag = `"${asset.hash.slice(0, HASH_LENGTH)}${encoding ? `-${encoding}` : ''}"`;
    res.setHeader('ETag', etag);
    if (res.req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    const body = encoding ? await encoded(asset, encoding) : await readFile(asset.file);
    if (encoding) res.setHeader('Content-Encoding', encoding);
    res.setHeader('Content-Length', body.length);
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  const middleware: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const hashed = /^\/assets\/([0-9a-f]+)(\/.*)$/.exec(req.path);
    const asset = byPath.get(hashed ? hashed[2]! : req.path);
    if (!asset) return next();
    // An old page asking for an earlier version (just after an upgrade) gets today's file, but not for a year.
    const current = !hashed || asset.hash.startsWith(hashed[1]!);
    send(res, asset, String(req.headers['accept-encoding'] ?? ''), hashed && current ? IMMUTABLE : SHORT).catch(next);
  };

  return {
    middleware,
    /** The cache-busting address of a known asset; any other path is returned as it is. */
    url(assetPath: string): string {
      const asset = byPath.get(assetPath);
      return asset ? `/assets/${asset.hash.slice(0, HASH_LENGTH)}${assetPath}` : assetPath;
    },
    /** Every compressible asset: what `npm run build` precompresses. */
    compressible: () => [...byPath.values()].filter((asset) => asset.compressible).map(({ file, hash }) => ({ file, hash })),
  };
}

/** The app's assets: public/, and the few files of vendor packages that the pages load. */
export const appAssetMounts = (): AssetMount[] => [
  { prefix: '/', dir: publicDir },
  { prefix: '/vendor/pico/', dir: path.join(projectRoot, 'node_modules/@picocss/pico/css'), files: ['pico.min.css'] },
  { prefix: '/vendor/chart.js/', dir: path.join(projectRoot, 'node_modules/chart.js/dist'), files: ['chart.umd.min.js'] },
  // Swagger UI for /api/docs: only what the page loads, not the package's demo index.html.
  {
    prefix: '/api/docs/assets/',
    dir: path.join(projectRoot, 'node_modules/swagger-ui-dist'),
    files: ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png', 'favicon-16x16.png'],
  },
];

export const precompressedAssetsDir = path.join(projectRoot, 'dist/assets');
