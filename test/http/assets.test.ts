import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import request from 'supertest';
import { projectRoot } from '../../src/paths.js';
import { createTestApp } from '../helpers/test-app.js';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Fetches over a real socket without decoding (supertest unzips), so the test sees the bytes on the wire. */
async function raw(app: http.RequestListener, url: string, acceptEncoding: string, extra: Record<string, string> = {}): Promise<RawResponse> {
  const server = http.createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: url, headers: { 'accept-encoding': acceptEncoding, ...extra } }, resolve).on('error', reject),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return { status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

async function expectStatus(response: Promise<RawResponse>, status: number): Promise<RawResponse> {
  const res = await response;
  assert.equal(res.status, status);
  return res;
}

describe('static assets', () => {
  const t = createTestApp();
  after(() => t.close());
  const swaggerBundle = readFileSync(path.join(projectRoot, 'node_modules/swagger-ui-dist/swagger-ui-bundle.js'));

  it('when a page is rendered, then its stylesheets and scripts have content-hashed addresses', async () => {
    const page = await request(t.app).get('/login').expect(200);
    assert.match(page.text, /<link rel="stylesheet" href="\/assets\/[0-9a-f]{16}\/css\/app\.css">/);
    assert.match(page.text, /<script src="\/assets\/[0-9a-f]{16}\/js\/local-time\.js" defer>/);
  });

  it('when the Swagger bundle is fetched at its hashed address, then it comes brotli- or gzip-compressed, cached for a year', async () => {
    const docs = await request(t.app).get('/api/docs').expect(200);
    const url = /<script src="(\/assets\/[0-9a-f]{16}\/api\/docs\/assets\/swagger-ui-bundle\.js)"/.exec(docs.text)?.[1];
    assert.ok(url, 'the docs page loads the bundle from a hashed address');

    const br = await expectStatus(raw(t.app, url, 'gzip, deflate, br'), 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.match(String(br.headers['content-type']), /javascript/);
    assert.ok(br.body.length < swaggerBundle.length / 3, `brotli ${br.body.length} of ${swaggerBundle.length} bytes`);
    assert.ok(zlib.brotliDecompressSync(br.body).equals(swaggerBundle));

    const gzip = await expectStatus(raw(t.app, url, 'gzip'), 200);
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(gzip.body).equals(swaggerBundle));

    const plain = await expectStatus(raw(t.app, url, 'identity'), 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.length, swaggerBundle.length);
  });

  it('when the browser revalidates, then 304; when the plain address is asked, then a short cache; an unknown hash is not cached long', async () => {
    const css = readFileSync(path.join(projectRoot, 'public/css/app.css'));
    const page = await request(t.app).get('/login');
    const url = /href="(\/assets\/[0-9a-f]{16}\/css\/app\.css)"/.exec(page.text)![1]!;
    const first = await expectStatus(raw(t.app, url, 'br'), 200);
    await expectStatus(raw(t.app, url, 'br', { 'if-none-match': String(first.headers.etag) }), 304);

    const plain = await expectStatus(raw(t.app, '/css/app.css', 'gzip'), 200);
    assert.equal(plain.headers['cache-control'], 'public, max-age=3600');
    assert.ok(zlib.gunzipSync(plain.body).equals(css));

    const stale = await expectStatus(raw(t.app, '/assets/0000000000000000/css/app.css', 'identity'), 200);
    assert.equal(stale.headers['cache-control'], 'public, max-age=3600');
    await request(t.app).get('/assets/0000000000000000/nothing.js').expect(404);
  });
});
