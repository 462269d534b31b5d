/**
 * The accuracy of signature verification through the product: starts the real server (bench/server.ts: production
 * mode, the shipped models, a temporary data folder), then for the held-out test writers of each set in the model
 * card uploads K references and verifies every other genuine signature and every skilled forgery over HTTP
 * (scripts/signatures-api-protocol.ts). Prints per set the decisions, the inconclusive share, accuracy overall and
 * on the decided ones, and FAR/FRR on skilled forgeries; the last line is one JSON object.
 *
 *   npm run eval:signatures:api -- [--data ../shared/datasets] [--references 5] [--concurrency 2]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startBenchServer } from '../bench/server.js';
import { projectRoot } from '../src/paths.js';
import { summarise, verifyWritersThroughApi, type SignaturesApiClient } from './signatures-api-protocol.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/datasets' },
    references: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '2' },
  },
});

function httpClient(url: string, bearer: string): SignaturesApiClient {
  const call = async (method: string, route: string, body?: FormData | object) => {
    const res = await fetch(`${url}/api${route}`, {
      method,
      headers: { authorization: bearer, ...(body instanceof FormData || !body ? {} : { 'content-type': 'application/json' }) },
      body: body instanceof FormData ? body : body ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const form = (field: string, files: { name: string; bytes: Buffer }[]) => {
    const data = new FormData();
    for (const file of files) data.append(field, new Blob([new Uint8Array(file.bytes)], { type: 'image/png' }), file.name);
    return data;
  };
  return {
    createSigner: async (name) => (await call('POST', '/v1/signers', { name })).id as number,
    async addReferences(signerId, files) {
      const added = await call('POST', `/v1/signers/${signerId}/references`, form('images', files));
      return (added.warnings as { reference_id: number; code: string }[]).filter((w) => w.code === 'outlier').map((w) => w.reference_id);
    },
    verify: async (signerId, file) => (await call('POST', `/v1/signers/${signerId}/verifications`, form('image', [file]))) as never,
  };
}

async function main(): Promise<void> {
  const card = JSON.parse(await readFile(path.join(projectRoot, 'models/signatures.json'), 'utf8')) as { split: Record<string, { test: string[] }> };
  const sets = Object.keys(card.split).filter((key) => key !== 'method');
  const references = Number(values.references);
  const server = await startBenchServer({ STORAGE_QUOTA_MB: '100000' });
  const summary: Record<string, unknown> = {};
  try {
    const client = httpClient(server.url, server.bearer);
    for (const set of sets) {
      const started = Date.now();
      const { results, outlierReferences, meta } = await verifyWritersThroughApi(client, path.join(values.data, 'signatures', set), card.split[set]!.test, {
        references,
        concurrency: Number(values.concurrency),
        onWriter: (writer, outliers) => outliers && console.log(`  ${set}/${writer}: ${outliers} reference(s) flagged as outliers and left out`),
      });
      const figures = summarise(results, meta!.threshold);
      summary[set] = { ...figures, outlier_references: outlierReferences, seconds: Math.round((Date.now() - started) / 1000) };
      const pct = (value: number) => `${(100 * value).toFixed(1)}%`;
      console.log(
        `${set} (${figures.n.writers} held-out writers, ${figures.n.genuine} genuine, ${figures.n.skilled} skilled forgeries, model ${meta!.modelVersion}, band [${meta!.band.join(', ')}]): ` +
          `inconclusive ${pct(figures.inconclusive_share)}, accuracy ${pct(figures.accuracy)}, on the decided ${pct(figures.accuracy_decided)}, ` +
          `skilled forgeries decided genuine ${pct(figures.far_skilled)}, genuine decided forged ${pct(figures.frr)}; ` +
          `two-way at the threshold: accuracy ${pct(figures.at_threshold.accuracy)}, FAR ${pct(figures.at_threshold.far_skilled)}, FRR ${pct(figures.at_threshold.frr)}`,
      );
    }
  } finally {
    await server.stop();
  }
  console.log(JSON.stringify({ references, ...summary }));
}

await main();
