import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parse as parseDisposition } from 'content-disposition';
import sharp from 'sharp';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { bearerFor } from '../helpers/agent.js';
import { binary, createDataset, uploadTo } from '../helpers/datasets.js';
import * as images from '../helpers/images.js';
import { parseCsv, readZipBuffer } from '../helpers/zip.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('dataset export', () => {
  let t: TestApp;
  let auth: string;
  before(async () => {
    t = createTestApp();
    auth = await bearerFor(t.app, await t.createUser({ username: 'exporter' }));
  });
  after(() => t.close());

  const download = (path: string, token = auth) => request(t.app).get(path).set('Authorization', token).buffer(true).parse(binary);

  it('when a dataset is exported without a split, then the zip is <name>/<label>/<file> with labels.csv and README.md, images stored as they are', async () => {
    const dataset = await createDataset(t.app, auth, 'pets', ['cat', 'dog', 'empty']);
    const tom = await images.pngImage(64, 48, 601);
    const rex = await images.jpegImage(50, 40, 602);
    await uploadTo(t.app, auth, dataset.id, 'cat', [[tom, 'tom.png']]);
    await uploadTo(t.app, auth, dataset.id, 'dog', [[rex, 'rex.jpg']]);

    const res = await download(`/api/v1/datasets/${dataset.id}/export`).expect(200);
    assert.equal(res.headers['content-type'], 'application/zip');
    const disposition = parseDisposition(res.headers['content-disposition']!);
    assert.equal(disposition.type, 'attachment');
    assert.equal(disposition.parameters.filename, 'pets_dataset.zip');

    const entries = await readZipBuffer(res.body as Buffer);
    assert.deepEqual(entries.map((e) => e.name), ['pets/README.md', 'pets/cat/tom.png', 'pets/dog/rex.jpg', 'pets/labels.csv']);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.ok(byName.get('pets/cat/tom.png')!.data.equals(tom), 'the stored PNG, byte for byte');
    assert.equal(byName.get('pets/cat/tom.png')!.method, 0, 'images are stored, not deflated again');
    assert.equal(byName.get('pets/dog/rex.jpg')!.method, 0);
    assert.equal(byName.get('pets/labels.csv')!.method, 8);

    const csv = parseCsv(byName.get('pets/labels.csv')!.data.toString('utf8'));
    assert.deepEqual(csv[0], ['path', 'label', 'split', 'sha256', 'width', 'height', 'bytes']);
    assert.deepEqual(csv.slice(1), [
      ['cat/tom.png', 'cat', '', sha256(tom), '64', '48', String(tom.length)],
      ['dog/rex.jpg', 'dog', '', sha256(byName.get('pets/dog/rex.jpg')!.data), '50', '40', String(byName.get('pets/dog/rex.jpg')!.data.length)],
    ]);
    const readme = byName.get('pets/README.md')!.data.toString('utf8');
    assert.match(readme, /^# pets/);
    assert.match(readme, /\| cat \| 1 \|/);
    assert.match(readme, /\| empty \| 0 \|/);
    assert.match(readme, /Exported from Inkwell on \d{4}-\d\d-\d\dT/);
    assert.match(readme, /No split/);
  });

  it('when names come from users (paths, "..", control characters, Windows devices, clashes), then every entry name is safe and unique, and safe names are kept', async () => {
    const dataset = await createDataset(t.app, auth, 'names', ['x']);
    const uploads: [Buffer, string][] = [];
    const names = ['../../etc/passwd.png', 'a\\b\\c.png', 'photo 1.png', 'PHOTO 1.png', '.hidden.png', 'con.png', 'tab\there.png', 'x'.repeat(150) + '.png', 'résumé.png', 'noext'];
    for (const [i, name] of names.entries()) uploads.push([await images.pngImage(16, 16, 610 + i), name]);
    await uploadTo(t.app, auth, dataset.id, 'x', uploads);
    const entries = await readZipBuffer((await download(`/api/v1/datasets/${dataset.id}/export`).expect(200)).body as Buffer);
    const files = entries.map((e) => e.name).filter((name) => name.startsWith('names/x/'));
    assert.equal(files.length, names.length);
    for (const name of files) {
      const file = name.slice('names/x/'.length);
      assert.ok(!file.includes('/') && !file.includes('\\') && !file.includes('..'), `${name} in ${files.join(', ')}`);
      assert.ok(!/^[.\s]/.test(file) && !/[\u0000-\u001f]/.test(file), name);
      assert.ok(!/^(con|prn|aux|nul)\./i.test(file), name);
      assert.ok([...file].length <= 70, name);
      assert.match(file, /\.png$/);
    }
    assert.equal(new Set(files.map((f) => f.toLowerCase())).size, files.length, 'unique ignoring case');
    assert.ok(files.includes('names/x/photo 1.png') && files.includes('names/x/PHOTO 1 (2).png'), files.join('\n'));
    assert.ok(files.includes('names/x/résumé.png') && files.includes('names/x/passwd.png') && files.includes('names/x/c.png'));
    assert.ok(files.includes('names/x/_con.png') && files.includes('names/x/noext.png') && files.includes('names/x/hidden.png'));
  });

  it('when the name is not ASCII, then Content-Disposition carries an ASCII file name and the UTF-8 one (RFC 5987)', async () => {
    const dataset = await createDataset(t.app, auth, 'Käfer 猫', ['a']);
    const res = await download(`/api/v1/datasets/${dataset.id}/export`).expect(200);
    const header = res.headers['content-disposition']!;
    assert.match(header, /^attachment; filename="Kafer _dataset\.zip"; filename\*=UTF-8''K%C3%A4fer%20%E7%8C%AB_dataset\.zip$/);
    assert.ok(/^[\x20-\x7e]+$/.test(header), 'the header itself is ASCII');
    assert.equal(parseDisposition(header).parameters.filename, 'Käfer 猫_dataset.zip');
  });

  describe('split', () => {
    let datasetId: number;
    before(async () => {
      const dataset = await createDataset(t.app, auth, 'split', ['many', 'three', 'two']);
      datasetId = dataset.id;
      const make = async (n: number, seed: number) => Promise.all(Array.from({ length: n }, async (_, i) => [await images.pngImage(16, 16, seed + i), `${seed + i}.png`] as [Buffer, string]));
      await uploadTo(t.app, auth, datasetId, 'many', await make(20, 700));
      await uploadTo(t.app, auth, datasetId, 'three', await make(3, 730));
      await uploadTo(t.app, auth, datasetId, 'two', await make(2, 740));
    });

    const csvOf = async (query: string) => {
      const entries = await readZipBuffer((await download(`/api/v1/datasets/${datasetId}/export?${query}`).expect(200)).body as Buffer);
      return { entries, rows: parseCsv(entries.find((e) => e.name === 'split/labels.csv')!.data.toString('utf8')).slice(1) };
    };
    const tally = (rows: string[][]) => {
      const counts: Record<string, Record<string, number>> = {};
      for (const [, label, split] of rows) (counts[label!] ??= { train: 0, val: 0, test: 0 })[split!]!++;
      return counts;
    };

    it('when split=80,10,10, then folders are <split>/<label>, stratified per label, with every label in every split when it has 3 images', async () => {
      const { entries, rows } = await csvOf('split=80,10,10&seed=1');
      assert.deepEqual(tally(rows), { many: { train: 16, val: 2, test: 2 }, three: { train: 1, val: 1, test: 1 }, two: { train: 2, val: 0, test: 0 } });
      for (const [path, label, split] of rows) {
        assert.ok(path!.startsWith(`${split}/${label}/`), path);
        assert.ok(entries.some((e) => e.name === `split/${path}`), `${path} is in the zip`);
      }
      const readme = entries.find((e) => e.name === 'split/README.md')!.data.toString('utf8');
      assert.match(readme, /train 80%, val 10%, test 10%, seed 1/);
      assert.match(readme, /\| many \| 16 \| 2 \| 2 \| 20 \|/);
      assert.match(readme, /Warning:.*two/);
    });

    it('when the same seed is used again, then the split is identical; another seed gives another split; other ratios follow', async () => {
      const first = (await csvOf('split=80,10,10&seed=1')).rows;
      const again = (await csvOf('split=80,10,10&seed=1')).rows;
      assert.deepEqual(again, first);
      const splitOf = (rows: string[][]) => Object.fromEntries(rows.map((r) => [r[3], r[2]]));
      const other = (await csvOf('split=80,10,10&seed=2')).rows;
      assert.notDeepEqual(splitOf(other), splitOf(first));
      assert.deepEqual(tally((await csvOf('split=50,50,0&seed=3')).rows).many, { train: 10, val: 10, test: 0 });
    });

    it('when the same images are in another dataset, uploaded in another order, then the same seed gives the same split', async () => {
      const copy = await createDataset(t.app, auth, 'split copy', ['many', 'three', 'two']);
      const { entries: originalEntries, rows: original } = await csvOf('split=70,20,10&seed=9');
      for (const label of ['two', 'many', 'three']) {
        const files: [Buffer, string][] = original
          .filter((row) => row[1] === label)
          .reverse()
          .map(([path]) => [originalEntries.find((e) => e.name === `split/${path}`)!.data, path!.split('/').pop()!]);
        await uploadTo(t.app, auth, copy.id, label, files);
      }
      const entries = await readZipBuffer((await download(`/api/v1/datasets/${copy.id}/export?split=70,20,10&seed=9`).expect(200)).body as Buffer);
      const rows = parseCsv(entries.find((e) => e.name === 'split copy/labels.csv')!.data.toString('utf8')).slice(1);
      const key = (r: string[]) => `${r[3]} ${r[2]}`;
      assert.deepEqual(rows.map(key).sort(), original.map(key).sort());
    });

    it('when the export options are invalid, then 422 names the option', async () => {
      for (const [query, field] of [['split=50,10,10', 'split'], ['split=0,50,50', 'split'], ['split=a,b,c', 'split'], ['format=bmp', 'format'], ['max_side=3', 'max_side'], ['seed=-1', 'seed']]) {
        const res = await request(t.app).get(`/api/v1/datasets/${datasetId}/export?${query}`).set('Authorization', auth).expect(422);
        assert.ok(res.body.error.fields[field!], `${query}: ${JSON.stringify(res.body)}`);
      }
    });
  });

  it('when format and max_side are asked, then the files are converted and labels.csv describes the files as exported', async () => {
    const dataset = await createDataset(t.app, auth, 'convert', ['a']);
    await uploadTo(t.app, auth, dataset.id, 'a', [[await images.pngImage(400, 200, 620), 'wide.png'], [await images.webpImage(30, 20, 621), 'small.webp']]);
    for (const format of ['jpeg', 'png'] as const) {
      const entries = await readZipBuffer((await download(`/api/v1/datasets/${dataset.id}/export?format=${format}&max_side=100`).expect(200)).body as Buffer);
      const rows = parseCsv(entries.find((e) => e.name === 'convert/labels.csv')!.data.toString('utf8')).slice(1);
      assert.equal(rows.length, 2);
      for (const [path, , , hash, width, height, bytes] of rows) {
        const file = entries.find((e) => e.name === `convert/${path}`)!;
        const meta = await sharp(file.data).metadata();
        assert.equal(meta.format, format);
        assert.match(path!, format === 'jpeg' ? /\.jpg$/ : /\.png$/);
        assert.deepEqual([meta.width, meta.height].map(String), [width, height]);
        assert.equal(sha256(file.data), hash);
        assert.equal(String(file.data.length), bytes);
        assert.ok(Math.max(meta.width!, meta.height!) <= 100);
      }
      assert.ok(rows.some((r) => r[4] === '100' && r[5] === '50'), 'the wide image was made smaller');
      assert.ok(rows.some((r) => r[4] === '30' && r[5] === '20'), 'the small one was not enlarged');
    }
  });

  it('when a dataset has no images, then the zip still has README.md and the header of labels.csv', async () => {
    const dataset = await createDataset(t.app, auth, 'nothing');
    const entries = await readZipBuffer((await download(`/api/v1/datasets/${dataset.id}/export?split=80,10,10`).expect(200)).body as Buffer);
    assert.deepEqual(entries.map((e) => e.name), ['nothing/README.md', 'nothing/labels.csv']);
    assert.equal(entries[1]!.data.toString(), 'path,label,split,sha256,width,height,bytes\r\n');
  });

  it('when the client goes away mid-download, then the server stops reading images, keeps no file and answers the next request', async () => {
    const dataset = await createDataset(t.app, auth, 'large', ['a']);
    // Noise images compress badly: 40 x ~300 KB = 12 MB, three times the export's 4 MB window.
    const files: [Buffer, string][] = [];
    for (let i = 0; i < 40; i++) files.push([await sharp({ create: { width: 320, height: 320, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer(), `${i}.png`]);
    for (let i = 0; i < files.length; i += 20) await uploadTo(t.app, auth, dataset.id, 'a', files.slice(i, i + 20));

    const reads = { count: 0 };
    const readBytes = t.store.readBytes;
    t.store.readBytes = (image) => {
      reads.count++;
      return readBytes(image);
    };
    const server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const received = await new Promise<number>((resolve, reject) => {
        const req = http.get({ port, path: `/api/v1/datasets/${dataset.id}/export`, headers: { authorization: auth } }, (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > 100_000) {
              res.pause();
              req.destroy();
              resolve(bytes);
            }
          });
          res.on('error', () => undefined);
        });
        req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
      });
      assert.ok(received > 0);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const readsAfterAbort = reads.count;
      assert.ok(readsAfterAbort < 40, `stopped after ${readsAfterAbort} of 40 images`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(reads.count, readsAfterAbort, 'no more reads after the client left');
      await request(t.app).get(`/api/v1/datasets/${dataset.id}`).set('Authorization', auth).expect(200);
    } finally {
      t.store.readBytes = readBytes;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
