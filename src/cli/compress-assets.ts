import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { appAssetMounts, compressAsset, createAssets, ENCODINGS, precompressedAssetsDir, precompressedName } from '../http/assets.js';

/**
 * Build step (`npm run build`): writes a brotli and a gzip copy of every compressible asset to dist/assets,
 * named by content hash, so the server sends them without compressing anything (src/http/assets.ts).
 */
async function main(): Promise<void> {
  const assets = createAssets({ mounts: appAssetMounts(), precompressedDir: precompressedAssetsDir });
  mkdirSync(precompressedAssetsDir, { recursive: true });
  let original = 0;
  let written = 0;
  for (const { file, hash } of assets.compressible()) {
    const bytes = await readFile(file);
    original += bytes.length;
    for (const encoding of ENCODINGS) {
      const compressed = await compressAsset(bytes, encoding, { best: true });
      if (encoding === 'br') written += compressed.length;
      writeFileSync(path.join(precompressedAssetsDir, precompressedName(hash, encoding)), compressed);
    }
  }
  console.log(`Precompressed assets: ${(original / 1024).toFixed(0)} KB -> ${(written / 1024).toFixed(0)} KB with brotli (${path.relative(process.cwd(), precompressedAssetsDir)})`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
