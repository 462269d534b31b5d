/** Shortcuts for the datasets tests: the API calls most tests start with, and reading a zip download. */
import assert from 'node:assert/strict';
import type { Express } from 'express';
import request from 'supertest';

type App = Express;

export async function createDataset(app: App, auth: string, name: string, labels: string[] = []): Promise<{ id: number; labels: { id: number; name: string }[] }> {
  const res = await request(app).post('/api/v1/datasets').set('Authorization', auth).send({ name, labels });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Uploads files into a label through the API; returns the 201 body ({ items, skipped }). */
export async function uploadTo(app: App, auth: string, datasetId: number, label: string | number, files: [Buffer, string][]) {
  const req = request(app).post(`/api/v1/datasets/${datasetId}/images`).set('Authorization', auth).field('label', String(label));
  for (const [bytes, name] of files) req.attach('images', bytes, name);
  const res = await req;
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { items: { id: number; label_id: number; name: string; sha256: string }[]; skipped: { file: string; code: string; message: string }[] };
}

/** A supertest request's body collected as one Buffer (for zips): `.buffer(true).parse(binary)`. */
export const binary = (res: request.Response, done: (err: Error | null, body: Buffer) => void) => {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
};
