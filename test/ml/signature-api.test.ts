import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { decideSignature, loadModels, type Models } from '../../src/ml/index.js';
import { evaluateSignatureFolder } from '../../src/ml/signature-evaluation.js';
import { verifyWritersThroughApi, type SignaturesApiClient } from '../../scripts/signatures-api-protocol.js';
import { bearerFor } from '../helpers/agent.js';
import { datasetsDir, shippedModelsDir, SIGNATURE_SETS, signatureDataSkipReason } from '../helpers/ml-models.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

/*
 * The product path agrees with eval:signatures: the same held-out files, uploaded and verified through the HTTP API
 * (scripts/signatures-api-protocol.ts, as `npm run eval:signatures:api` does), get the scores and decisions that
 * evaluateSignatureFolder computes from the files directly. A few writers of each set keep it to about a minute;
 * the full figures are in README.md.
 */

const WRITERS_PER_SET = 3;
const skipReason = signatureDataSkipReason();
if (skipReason) console.log(`skipping the API agreement test of the signature model: ${skipReason}`);

function supertestClient(t: TestApp, auth: string): SignaturesApiClient {
  return {
    createSigner: async (name) => (await request(t.app).post('/api/v1/signers').set('Authorization', auth).send({ name }).expect(201)).body.id,
    async addReferences(signerId, files) {
      const req = request(t.app).post(`/api/v1/signers/${signerId}/references`).set('Authorization', auth);
      for (const file of files) req.attach('images', file.bytes, file.name);
      const res = await req.expect(201);
      return (res.body.warnings as { reference_id: number; code: string }[]).filter((w) => w.code === 'outlier').map((w) => w.reference_id);
    },
    verify: async (signerId, file) =>
      (await request(t.app).post(`/api/v1/signers/${signerId}/verifications`).set('Authorization', auth).attach('image', file.bytes, file.name).expect(201)).body,
  };
}

describe('signature verification through the API on held-out writers', { skip: skipReason }, () => {
  let models: Models;
  let t: TestApp;
  let card: { references_k: number; split: Record<string, { test: string[] }> };
  before(async () => {
    card = JSON.parse(readFileSync(path.join(shippedModelsDir, 'signatures.json'), 'utf8')) as typeof card;
    models = await loadModels({ modelsDir: shippedModelsDir, workers: 2, maxPixels: 40_000_000 });
    t = createTestApp({ ml: models });
  });
  after(async () => {
    t?.close();
    await models?.close();
  });

  for (const set of SIGNATURE_SETS) {
    test(`when held-out writers of ${set} are enrolled and verified through the API, then every score and decision is what eval:signatures computes`, async () => {
      const writers = card.split[set]!.test.slice(0, WRITERS_PER_SET);
      const root = path.join(datasetsDir, 'signatures', set);
      const auth = await bearerFor(t.app, await t.createUser({ username: `eval-${set}` }));
      const api = await verifyWritersThroughApi(supertestClient(t, auth), root, writers, { references: card.references_k });
      // Outlier references are left out by the product, not by eval:signatures; none is flagged among these writers.
      assert.equal(api.outlierReferences, 0);

      const evaluation = await evaluateSignatureFolder(root, models.signatures, { references: card.references_k, writers, maxPixels: 40_000_000 });
      const expected = new Map(evaluation.questioned.map((q) => [q.file, q]));
      assert.equal(api.results.length, evaluation.questioned.length, 'the same questioned files');
      for (const answer of api.results) {
        const reference = expected.get(answer.file);
        assert.ok(reference, `${answer.file} is questioned by eval:signatures too`);
        assert.equal(answer.kind, reference.kind);
        assert.ok(Math.abs(answer.score - reference.score) < 1e-5, `${answer.file}: API ${answer.score}, eval ${reference.score}`);
        assert.equal(answer.decision, decideSignature(reference.score, models.signatures.inconclusiveBand!), answer.file);
      }
      const accepted = (kind: 'genuine' | 'skilled') => api.results.filter((r) => r.kind === kind && r.score >= models.signatures.threshold).length;
      assert.equal(accepted('genuine'), evaluation.writers.reduce((sum, w) => sum + w.genuine.accepted, 0));
      assert.equal(accepted('skilled'), evaluation.writers.reduce((sum, w) => sum + w.skilled.accepted, 0));
      console.log(`${set}: ${api.results.length} verifications through the API agree with eval:signatures (${writers.join(', ')})`);
    });
  }
});
