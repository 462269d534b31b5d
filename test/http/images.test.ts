import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { findMetadata } from '../../src/storage/metadata/index.js';
import { bearerFor, csrfToken, signIn, type Agent } from '../helpers/agent.js';
import * as images from '../helpers/images.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

type App = TestApp['app'];

/**
 * Every file under the upload folder, relative to it, once the received uploads of finished requests are gone
 * (they are deleted when the response closes, which the client may see a moment earlier).
 */
async function filesOnDisk(t: TestApp): Promise<string[]> {
  const root = t.config.uploadDir;
  const list = () =>
    existsSync(root)
      ? readdirSync(root, { recursive: true, withFileTypes: true })
          .filter((entry) => entry.isFile())
          .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
          .sort()
      : [];
  for (let waited = 0; list().some((file) => file.startsWith('.tmp')) && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  return list();
}

function upload(app: App, auth: string, files: [Buffer, string][]) {
  const req = request(app).post('/api/v1/images').set('Authorization', auth);
  for (const [bytes, name] of files) req.attach('images', bytes, name);
  return req;
}

const storedRows = (t: TestApp) => t.db.prepare('SELECT user_id AS userId, sha256, ref_count AS refCount, file FROM stored_images ORDER BY id').all() as { userId: number; sha256: string; refCount: number; file: string }[];

describe('image library API', () => {
  let t: TestApp;
  let alice: string;
  let bob: string;
  before(async () => {
    t = createTestApp();
    alice = await bearerFor(t.app, await t.createUser({ username: 'alice' }));
    bob = await bearerFor(t.app, await t.createUser({ username: 'bob' }));
  });
  after(() => t.close());

  it('when several images are uploaded, then 201 lists each with its metadata, and the list, the metadata and the files answer', async () => {
    const png = await images.pngImage(64, 48, 11);
    const jpeg = await images.jpegImage(40, 30, 12);
    const res = await upload(t.app, alice, [[png, 'drawing.png'], [jpeg, 'photo.jpg']]).expect(201);
    assert.equal(res.body.items.length, 2);
    const [first, second] = res.body.items;
    assert.deepEqual(Object.keys(first).sort(), ['bytes', 'created_at', 'derivation', 'derived_from', 'height', 'id', 'name', 'sha256', 'source', 'type', 'width'].sort());
    assert.equal(first.name, 'drawing.png');
    assert.equal(first.type, 'image/png');
    assert.deepEqual([first.width, first.height], [64, 48]);
    assert.equal(second.type, 'image/jpeg');
    assert.equal(first.source, 'api');

    const list = await request(t.app).get('/api/v1/images').set('Authorization', alice).expect(200);
    assert.equal(list.body.total, 2);
    assert.deepEqual(list.body.items.map((i: { id: number }) => i.id), [second.id, first.id], 'newest first');

    const one = await request(t.app).get(`/api/v1/images/${first.id}`).set('Authorization', alice).expect(200);
    assert.equal(one.body.sha256, first.sha256);

    const file = await request(t.app).get(`/api/v1/images/${first.id}/file`).set('Authorization', alice).buffer(true).expect(200);
    assert.equal(file.headers['content-type'], 'image/png');
    assert.equal(file.headers['x-content-type-options'], 'nosniff');
    assert.equal(file.headers['content-security-policy'], "default-src 'none'");
    assert.match(file.headers['content-disposition']!, /^inline; filename="?drawing\.png"?$/);
    assert.match(file.headers['cache-control']!, /private/);
    assert.ok(Buffer.from(file.body).equals(png), 'a PNG without metadata is stored byte for byte');

    const cached = await request(t.app).get(`/api/v1/images/${first.id}/file`).set('Authorization', alice).set('If-None-Match', file.headers.etag!);
    assert.equal(cached.status, 304);

    const download = await request(t.app).get(`/api/v1/images/${first.id}/file?download=1`).set('Authorization', alice).expect(200);
    assert.match(download.headers['content-disposition']!, /^attachment; filename="?drawing\.png"?$/);

    const thumb = await request(t.app).get(`/api/v1/images/${second.id}/thumbnail`).set('Authorization', alice).buffer(true).expect(200);
    assert.equal(thumb.headers['content-type'], 'image/webp');
    const meta = await sharp(thumb.body as Buffer).metadata();
    assert.equal(meta.format, 'webp');
    assert.deepEqual([meta.width, meta.height], [40, 30], 'small images are not enlarged');
  });

  it('when a large image is stored, then its thumbnail is a WebP whose longer side is 320 px', async () => {
    const res = await upload(t.app, alice, [[await images.jpegImage(1000, 600, 13), 'wide.jpg']]).expect(201);
    const thumb = await request(t.app).get(`/api/v1/images/${res.body.items[0].id}/thumbnail`).set('Authorization', alice).buffer(true).expect(200);
    const meta = await sharp(thumb.body as Buffer).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 320, 192]);
  });

  it('when an image is renamed and deleted, then PATCH answers the new name and DELETE 204, after which it is gone', async () => {
    const [item] = (await upload(t.app, alice, [[await images.pngImage(20, 20, 14), 'old.png']]).expect(201)).body.items;
    const renamed = await request(t.app).patch(`/api/v1/images/${item.id}`).set('Authorization', alice).send({ name: '  New name  ' }).expect(200);
    assert.equal(renamed.body.name, 'New name');
    const bad = await request(t.app).patch(`/api/v1/images/${item.id}`).set('Authorization', alice).send({ name: '' }).expect(422);
    assert.ok(bad.body.error.fields.name);
    await request(t.app).delete(`/api/v1/images/${item.id}`).set('Authorization', alice).expect(204);
    await request(t.app).get(`/api/v1/images/${item.id}`).set('Authorization', alice).expect(404);
    await request(t.app).get(`/api/v1/images/${item.id}/file`).set('Authorization', alice).expect(404);
  });

  it("when another user asks for an image by id, then every route answers 404, as for an id that does not exist", async () => {
    const [item] = (await upload(t.app, alice, [[await images.pngImage(20, 20, 15), 'mine.png']]).expect(201)).body.items;
    for (const [method, suffix] of [['get', ''], ['get', '/file'], ['get', '/thumbnail'], ['patch', ''], ['delete', ''], ['post', '/background-removal']] as const) {
      const res = await request(t.app)[method](`/api/v1/images/${item.id}${suffix}`).set('Authorization', bob).send(method === 'patch' ? { name: 'x' } : { mode: 'document' });
      assert.equal(res.status, 404, `${method} ${suffix}`);
      const missing = await request(t.app)[method](`/api/v1/images/999999${suffix}`).set('Authorization', bob).send(method === 'patch' ? { name: 'x' } : { mode: 'document' });
      assert.equal(missing.status, 404);
      assert.deepEqual(res.body, missing.body, 'the answer does not reveal that the image exists');
    }
    await request(t.app).get(`/api/v1/images/${item.id}`).set('Authorization', alice).expect(200);
  });

  it('when one file of an upload is refused, then the whole request answers 422 naming it with its reason, and nothing is stored', async () => {
    const before = { rows: storedRows(t).length, files: await filesOnDisk(t) };
    const res = await upload(t.app, alice, [
      [await images.pngImage(30, 30, 16), 'good.png'],
      [Buffer.from('just some text'), 'notes.png'],
      [images.truncated(await images.jpegImage(200, 200, 17)), 'cut.jpg'],
    ]).expect(422);
    assert.equal(res.body.error.code, 'image_refused');
    assert.deepEqual(res.body.error.fields, { 'notes.png': 'unsupported_type', 'cut.jpg': 'undecodable' });
    assert.match(res.body.error.message, /Nothing was stored/);
    assert.equal(storedRows(t).length, before.rows);
    assert.deepEqual(await filesOnDisk(t), before.files, 'no file was written, not even a temporary one');
  });

  it('when the same bytes are uploaded twice, then both images exist but the file is stored once, until both are deleted', async () => {
    const bytes = await images.pngImage(24, 24, 18);
    const first = (await upload(t.app, alice, [[bytes, 'a.png']]).expect(201)).body.items[0];
    const second = (await upload(t.app, alice, [[bytes, 'b.png']]).expect(201)).body.items[0];
    assert.notEqual(first.id, second.id);
    const rows = storedRows(t).filter((row) => row.sha256 === first.sha256);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.refCount, 2);
    const file = rows[0]!.file;
    await request(t.app).delete(`/api/v1/images/${first.id}`).set('Authorization', alice).expect(204);
    assert.ok((await filesOnDisk(t)).includes(file), 'still used by the second image');
    await request(t.app).delete(`/api/v1/images/${second.id}`).set('Authorization', alice).expect(204);
    assert.ok(!(await filesOnDisk(t)).includes(file), 'deleted with its last image');
    assert.equal(storedRows(t).filter((row) => row.sha256 === first.sha256).length, 0);
  });

  it('when two users upload the same bytes, then each has a row and a file of their own', async () => {
    const bytes = await images.pngImage(24, 24, 19);
    const a = (await upload(t.app, alice, [[bytes, 'same.png']]).expect(201)).body.items[0];
    const b = (await upload(t.app, bob, [[bytes, 'same.png']]).expect(201)).body.items[0];
    const rows = storedRows(t).filter((row) => row.sha256 === a.sha256);
    assert.equal(rows.length, 2);
    assert.notEqual(rows[0]!.file, rows[1]!.file);
    await request(t.app).delete(`/api/v1/images/${a.id}`).set('Authorization', alice).expect(204);
    await request(t.app).get(`/api/v1/images/${b.id}/file`).set('Authorization', bob).expect(200);
  });

  it('when a phone JPEG carries GPS and camera EXIF, then the stored and served file has no metadata and the same JPEG data', async () => {
    const phone = await images.jpegWithGps(64, 48);
    assert.ok(findMetadata(phone, 'jpeg').includes('EXIF'));
    const [item] = (await upload(t.app, alice, [[phone, 'holiday.jpg']]).expect(201)).body.items;
    const served = (await request(t.app).get(`/api/v1/images/${item.id}/file`).set('Authorization', alice).buffer(true).expect(200)).body as Buffer;
    assert.deepEqual(findMetadata(served, 'jpeg'), []);
    const meta = await sharp(served).metadata();
    assert.equal(meta.exif, undefined);
    assert.ok(!served.includes(Buffer.from('Inkwell Test Phone')), 'the camera make is gone');
    assert.ok(served.length < phone.length && served.length > phone.length - 200, 'only the Exif segment was cut: no re-compression');
  });

  it('when a JPEG says it must be rotated, then the stored picture is upright (width and height swapped) and has no EXIF', async () => {
    const [item] = (await upload(t.app, alice, [[await images.jpegRotated(64, 48), 'portrait.jpg']]).expect(201)).body.items;
    assert.deepEqual([item.width, item.height], [48, 64]);
    const served = (await request(t.app).get(`/api/v1/images/${item.id}/file`).set('Authorization', alice).buffer(true).expect(200)).body as Buffer;
    const meta = await sharp(served).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation, meta.exif], [48, 64, undefined, undefined]);
  });

  describe('hostile and broken files: a 4xx with a clear message, nothing stored, nothing left behind', () => {
    const cases: [string, () => Promise<Buffer> | Buffer, string, RegExp][] = [
      ['an empty file', () => Buffer.alloc(0), 'empty', /empty/],
      ['a truncated PNG', async () => images.truncated(await images.pngImage(200, 200, 20)), 'undecodable', /damaged or incomplete/],
      ['a truncated JPEG', async () => images.truncated(await images.jpegImage(200, 200, 21)), 'undecodable', /damaged or incomplete/],
      ['text named .png', () => Buffer.from('hello, this is text'), 'unsupported_type', /not a PNG, JPEG, WebP or GIF/],
      ['HTML named .png', () => Buffer.from('<!DOCTYPE html><html><script>alert(1)</script></html>'), 'unsupported_type', /HTML or XML text/],
      ['SVG named .png', () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'unsupported_type', /SVG/],
      ['a PNG+HTML polyglot', () => images.pngHtmlPolyglot(), 'polyglot', /HTML or script hidden/],
      ['a decompression bomb', () => images.pngBomb(), 'too_many_pixels', /100000x100000 pixels; the limit is 50 million/],
      ['a header that lies about its size', () => images.pngLyingHeader(), 'undecodable', /could not be read|damaged/],
      ['an animated GIF of 300 frames', () => images.gifAnimation(300), 'too_many_frames', /300 frames; at most 100/],
      ['a 1x1 image', () => images.pngImage(1, 1), 'bad_dimensions', /1x1 pixels/],
      ['a 20000x1 image', () => images.pngImage(20000, 1), 'bad_dimensions', /20000x1 pixels/],
      ['a TIFF', () => sharp({ create: { width: 16, height: 16, channels: 3, background: '#fff' } }).tiff().toBuffer(), 'unsupported_type', /TIFF/],
    ];
    for (const [what, make, reason, message] of cases) {
      it(`when ${what} is uploaded, then 422 ${reason}`, async () => {
        const before = await filesOnDisk(t);
        const rows = storedRows(t).length;
        const res = await upload(t.app, alice, [[await make(), 'upload.png']]);
        assert.equal(res.status, 422, JSON.stringify(res.body));
        assert.equal(res.body.error.fields['upload.png'], reason);
        assert.match(res.body.error.message, message);
        assert.equal(storedRows(t).length, rows);
        assert.deepEqual(await filesOnDisk(t), before);
      });
    }

    it('when a client drops the connection in the middle of an upload, then the server carries on and keeps no part of it', async () => {
      const server = http.createServer(t.app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const before = await filesOnDisk(t);
        const boundary = 'cutoffboundary';
        await new Promise<void>((resolve) => {
          const req = http.request({ port, method: 'POST', path: '/api/v1/images', headers: { authorization: alice, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 5_000_000 } });
          req.on('error', () => resolve());
          req.write(`--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="half.png"\r\nContent-Type: image/png\r\n\r\n`);
          req.write(Buffer.alloc(200_000, 7), () => setTimeout(() => {
            req.destroy();
            resolve();
          }, 100));
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(await filesOnDisk(t), before);
        await request(t.app).get('/api/v1/images').set('Authorization', alice).expect(200);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('when a file is over UPLOAD_MAX_FILE_MB or there are more files than UPLOAD_MAX_FILES, then 413 and nothing is stored', async () => {
      const small = createTestApp({ env: { UPLOAD_MAX_FILE_MB: '1', UPLOAD_MAX_FILES: '2' } });
      try {
        const auth = await bearerFor(small.app, await small.createUser());
        const big = await upload(small.app, auth, [[Buffer.concat([await images.pngImage(), Buffer.alloc(1024 * 1024)]), 'big.png']]).expect(413);
        assert.match(big.body.error.message, /at most 1 MB/);
        const png = await images.pngImage();
        await upload(small.app, auth, [[png, 'a.png'], [png, 'b.png'], [png, 'c.png']]).expect(413);
        assert.deepEqual(await filesOnDisk(small), []);
      } finally {
        small.close();
      }
    });
  });
});

describe('storage quota', () => {
  const t = createTestApp({ env: { STORAGE_QUOTA_MB: '1' } });
  after(() => t.close());

  it('when an upload would exceed the quota, then it is refused whole with 413 naming the numbers, and what fits is accepted', async () => {
    const auth = await bearerFor(t.app, await t.createUser());
    // Noise compresses badly: each PNG is about 300 KB.
    const noise = () => sharp({ create: { width: 320, height: 320, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
    const [a, b, c, d] = await Promise.all([noise(), noise(), noise(), noise()]);
    await upload(t.app, auth, [[a, 'a.png'], [b, 'b.png']]).expect(201);
    const res = await upload(t.app, auth, [[c, 'c.png'], [d, 'd.png']]).expect(413);
    assert.match(res.body.error.message, /needs \d+\.\d\u00a0KB, and \d+\.\d\u00a0KB of your 1\.0\u00a0MB are free/);
    assert.match(res.body.error.message, /Nothing was stored/);
    const list = await request(t.app).get('/api/v1/images').set('Authorization', auth).expect(200);
    assert.equal(list.body.total, 2);
    // The same bytes again need no new space.
    await upload(t.app, auth, [[a, 'a again.png']]).expect(201);
  });
});

describe('image library pages', () => {
  let t: TestApp;
  let agent: Agent;
  let other: Agent;
  before(async () => {
    t = createTestApp();
    agent = await signIn(t.app, await t.createUser({ username: 'carol' }));
    other = await signIn(t.app, await t.createUser({ username: 'dave' }));
  });
  after(() => t.close());

  /** Posts files as public/js/uploader.js does (JSON wanted, CSRF token in the form) and checks the status. */
  async function uploadViaPage(files: [Buffer, string][], status: number) {
    const req = agent.post('/images').set('Accept', 'application/json').field('_csrf', await csrfToken(agent, '/images'));
    for (const [bytes, name] of files) req.attach('images', bytes, name);
    return req.expect(status);
  }

  it('when a new user opens /images, then the page explains how to add the first image', async () => {
    const res = await agent.get('/images').expect(200);
    assert.match(res.text, /No images yet/);
    assert.match(res.text, /Drop images here/);
    assert.match(res.text, /0\u00a0B of 1\.0\u00a0GB used/);
  });

  it('when signed out, then /images sends to the login page', async () => {
    const res = await request(t.app).get('/images').expect(302);
    assert.match(res.headers.location!, /^\/login\?next=%2Fimages/);
  });

  it('when the upload script sends a file, then it gets JSON with a link to the image, and the gallery shows it', async () => {
    const res = await uploadViaPage([[await images.pngImage(50, 40, 30), 'sketch.png']], 201);
    assert.match(res.body.items[0].url, /^\/images\/\d+$/);
    const gallery = await agent.get('/images').expect(200);
    assert.match(gallery.text, /sketch\.png/);
    assert.match(gallery.text, new RegExp(`/images/${res.body.items[0].id}/thumbnail`));
  });

  it('when the upload form is sent without script, then the browser is redirected: to the image, or back with the refusal', async () => {
    const token = await csrfToken(agent, '/images');
    const ok = await agent.post('/images').field('_csrf', token).attach('images', await images.pngImage(30, 20, 37), 'plain form.png').expect(302);
    assert.match(ok.headers.location!, /^\/images\/\d+$/);
    assert.match((await agent.get(ok.headers.location!)).text, /Stored plain form\.png/);
    const refused = await agent.post('/images').field('_csrf', token).attach('images', Buffer.from('nope'), 'nope.png').expect(302);
    assert.equal(refused.headers.location, '/images');
    assert.match((await agent.get('/images')).text, /not a PNG, JPEG, WebP or GIF/);
  });

  it('when the upload script sends a refused file, then it gets the JSON error to show beside that file', async () => {
    const res = await uploadViaPage([[Buffer.from('<svg/>'), 'bad.png']], 422);
    assert.match(res.body.error.message, /SVG/);
  });

  it('when a form upload is sent without its CSRF token, then 403', async () => {
    await agent.post('/images').attach('images', await images.pngImage(), 'x.png').expect(403);
  });

  it('when an image page is opened, then it shows the image, its details and the background-removal form; another user gets 404', async () => {
    const [item] = (await uploadViaPage([[await images.jpegImage(80, 60, 31), 'scan.jpg']], 201)).body.items;
    const page = await agent.get(`/images/${item.id}`).expect(200);
    assert.match(page.text, /scan\.jpg/);
    assert.match(page.text, /80 × 60 px/);
    assert.match(page.text, /Remove the background/);
    for (const suffix of ['', '/file', '/thumbnail']) await other.get(`/images/${item.id}${suffix}`).expect(404);
    await other.get(`/images/download?ids=${item.id}`).expect(404);
    await other.get(`/images/delete?ids=${item.id}`).expect(404);
  });

  it('when an image is renamed through its page, then the new name shows; an empty name re-renders the form with 422', async () => {
    const [item] = (await uploadViaPage([[await images.pngImage(20, 20, 32), 'before.png']], 201)).body.items;
    const token = await csrfToken(agent, `/images/${item.id}`);
    await agent.post(`/images/${item.id}/rename`).type('form').send({ _csrf: token, name: 'After' }).expect(302);
    assert.match((await agent.get(`/images/${item.id}`)).text, /<h1 class="image-title">After<\/h1>/);
    const bad = await agent.post(`/images/${item.id}/rename`).type('form').send({ _csrf: token, name: '   ' }).expect(422);
    assert.match(bad.text, /Enter a name/);
  });

  it('when images are selected for download, then a zip streams with each file under a safe, unique name', async () => {
    const a = (await uploadViaPage([[await images.pngImage(20, 20, 33), '../../etc/passwd.png']], 201)).body.items[0];
    const b = (await uploadViaPage([[await images.pngImage(20, 20, 34), 'passwd.png']], 201)).body.items[0];
    const res = await agent.get(`/images/download?ids=${a.id}&ids=${b.id}`).buffer(true).parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    }).expect(200);
    assert.equal(res.headers['content-type'], 'application/zip');
    const zip = res.body as Buffer;
    assert.equal(zip.readUInt32LE(0), 0x04034b50, 'a zip file');
    const names = [...zip.toString('latin1').matchAll(/PK\x01\x02[\s\S]{24}([\s\S]{2})[\s\S]{16}/g)].length;
    assert.equal(names, 2, 'two entries');
    assert.ok(zip.includes(Buffer.from('passwd.png')) && zip.includes(Buffer.from('passwd (2).png')));
    assert.ok(!zip.includes(Buffer.from('../')), 'no path in an entry name');
  });

  it('when images are deleted from the gallery, then a confirmation page lists them first, and the POST deletes them', async () => {
    const a = (await uploadViaPage([[await images.pngImage(20, 20, 35), 'one.png']], 201)).body.items[0];
    const b = (await uploadViaPage([[await images.pngImage(20, 20, 36), 'two.png']], 201)).body.items[0];
    const confirm = await agent.get(`/images/delete?ids=${a.id}&ids=${b.id}`).expect(200);
    assert.match(confirm.text, /Delete 2 images\?/);
    assert.match(confirm.text, /one\.png[\s\S]*two\.png/);
    await agent.get(`/images/${a.id}`).expect(200);
    const token = await csrfToken(agent, '/images');
    await agent.post('/images/delete').type('form').send(`_csrf=${encodeURIComponent(token)}&ids=${a.id}&ids=${b.id}`).expect(302);
    await agent.get(`/images/${a.id}`).expect(404);
    await agent.get(`/images/${b.id}`).expect(404);
  });

  it('when the camera page opens, then it has the camera component and its script', async () => {
    const res = await agent.get('/images/capture').expect(200);
    assert.match(res.text, /data-camera/);
    assert.match(res.text, /\/js\/camera\.js/);
  });

  it('when the account page opens, then it shows the storage used and the quota', async () => {
    const res = await agent.get('/account').expect(200);
    assert.match(res.text, /Storage/);
    assert.match(res.text, /KB of 1\.0\u00a0GB used/);
  });
});

describe('image files and accounts', () => {
  it('when an account is deleted, then its image files are deleted at once', async () => {
    const t = createTestApp();
    try {
      const user = await t.createUser({ username: 'erin' });
      const auth = await bearerFor(t.app, user);
      await upload(t.app, auth, [[await images.pngImage(30, 30, 40), 'x.png']]).expect(201);
      assert.ok((await filesOnDisk(t)).length >= 2);
      const agent = await signIn(t.app, user);
      const token = await csrfToken(agent, '/account/delete');
      await agent.post('/account/delete').type('form').send({ _csrf: token, password: user.password }).expect(302);
      assert.deepEqual(await filesOnDisk(t), []);
    } finally {
      t.close();
    }
  });
});
