import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { findMetadata, MalformedImageError, stripMetadata, type ContainerType } from '../../src/storage/metadata/index.js';
import {
  afterSoi,
  exifWithGps,
  gifApplication,
  gifBlocksStart,
  gifComment,
  gifPlainText,
  gifXmp,
  jfifWithThumbnail,
  jpegSegment,
  jpegWithRestarts,
  mpfIndex,
  photoshopIptc,
  pngChunk,
  pngChunks,
  pngFrom,
  rawAnimation,
  rawImage,
  sosPositions,
  textChunk,
  webpChunk,
  webpChunks,
  webpFrom,
} from './helpers/containers.js';

const XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Jane Doe</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';
const EXIF = { IFD0: { Copyright: 'Jane Doe', Make: 'Inkwell Phone' }, IFD2: { DateTimeOriginal: '2024:05:01 12:00:00' }, IFD3: { GPSLatitudeRef: 'N', GPSLongitudeRef: 'W' } };
const ascii = (text: string) => Buffer.from(text, 'latin1');

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes') {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length}, expected ${expected.length}`);
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `${what} differ`);
}

/** Every frame decoded to raw pixels, so that two files can be compared picture for picture. */
async function pixels(bytes: Uint8Array) {
  const { data, info } = await sharp(bytes, { pages: -1, failOn: 'none' }).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

async function assertSamePicture(actual: Uint8Array, expected: Uint8Array) {
  const [a, e] = await Promise.all([pixels(actual), pixels(expected)]);
  assert.deepEqual([a.width, a.height, a.channels], [e.width, e.height, e.channels]);
  assert.ok(a.data.equals(e.data), 'decoded pixels differ');
}

/** The stripped file: nothing left to find, stripping it again changes nothing, and sharp sees no metadata. */
async function assertClean(bytes: Uint8Array, type: ContainerType) {
  assert.deepEqual(findMetadata(bytes, type), []);
  assert.equal(stripMetadata(bytes, type), bytes);
  const { exif, xmp, iptc } = await sharp(bytes).metadata();
  assert.deepEqual({ exif, xmp, iptc }, { exif: undefined, xmp: undefined, iptc: undefined });
}

function assertMalformed(bytes: Uint8Array, type: ContainerType, detail: RegExp) {
  for (const run of [() => stripMetadata(bytes, type), () => findMetadata(bytes, type)]) {
    assert.throws(run, (error: unknown) => {
      assert.ok(error instanceof MalformedImageError, `expected a MalformedImageError, got ${String(error)}`);
      assert.match(error.message, /^The (JPEG|PNG|WebP|GIF) file is damaged or incomplete: /);
      assert.match(error.message, detail);
      return true;
    });
  }
}

/** Median wall time of a few runs, in ms. */
function timeIt(run: () => unknown, runs = 7): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

describe('stripMetadata: JPEG', () => {
  test('when sharp wrote EXIF (GPS included), XMP and an ICC profile, then only the EXIF and XMP segments go', async () => {
    const tagged = await rawImage(64, 48).withIccProfile('p3').withExif(EXIF).withXmp(XMP).jpeg({ quality: 90 }).toBuffer();
    const untagged = await rawImage(64, 48).withIccProfile('p3').jpeg({ quality: 90 }).toBuffer();
    const before = await sharp(tagged).metadata();
    assert.ok(before.exif && before.xmp && before.icc, 'the input carries EXIF, XMP and ICC');
    assert.deepEqual(findMetadata(tagged, 'jpeg'), ['EXIF', 'XMP']);

    const stripped = stripMetadata(tagged, 'jpeg');
    // Same encoder settings, no metadata: the entropy-coded data is the input's, not a re-encoding.
    assertSameBytes(stripped, untagged);
    await assertClean(stripped, 'jpeg');
    const after = await sharp(stripped).metadata();
    assert.equal(after.hasProfile, true);
    assert.ok(after.icc?.equals(before.icc));
    await assertSamePicture(stripped, tagged);
  });

  test('when EXIF with a GPS IFD, IPTC and comments are spliced in, then exactly those segments are cut out', async () => {
    const clean = await rawImage(64, 48).jpeg().toBuffer();
    const exif = jpegSegment(0xe1, exifWithGps());
    const iptc = jpegSegment(0xed, photoshopIptc('Taken at 12 Hidden Lane'));
    const comment = jpegSegment(0xfe, ascii('shot by Jane'));
    const sos = sosPositions(clean)[0]!;
    const input = Buffer.concat([clean.subarray(0, 2), exif, iptc, clean.subarray(2, sos), comment, clean.subarray(sos)]);
    const before = await sharp(input).metadata();
    assert.ok(before.exif && before.iptc, 'sharp reads the spliced EXIF and IPTC');
    assert.deepEqual(findMetadata(input, 'jpeg'), ['EXIF', 'IPTC', 'comment']);

    const stripped = stripMetadata(input, 'jpeg');
    assert.equal(stripped.length, input.length - exif.length - iptc.length - comment.length);
    assertSameBytes(stripped, clean);
    await assertClean(stripped, 'jpeg');
    await assertSamePicture(stripped, input);
  });

  test('when an MPF index points at a second JPEG appended after EOI, then the index and everything after EOI go', async () => {
    const primary = await rawImage(64, 48).jpeg().toBuffer();
    const secondary = await rawImage(32, 24, 3, 5).jpeg().toBuffer();
    const input = Buffer.concat([afterSoi(primary, jpegSegment(0xe2, mpfIndex())), secondary, ascii('SEFHSamsung trailer')]);
    assert.deepEqual(findMetadata(input, 'jpeg'), ['MPF', 'trailing data']);
    assertSameBytes(stripMetadata(input, 'jpeg'), primary);
  });

  test('when the EXIF block holds a thumbnail JPEG with its own end marker, then the walk skips it by length', async () => {
    const clean = await rawImage(64, 48).jpeg().toBuffer();
    const thumbnail = await rawImage(16, 12, 3, 9).jpeg().toBuffer();
    const input = afterSoi(clean, jpegSegment(0xe1, Buffer.concat([ascii('Exif\0\0'), thumbnail])));
    assert.deepEqual(findMetadata(input, 'jpeg'), ['EXIF']);
    assertSameBytes(stripMetadata(input, 'jpeg'), clean);
  });

  test('when a progressive JPEG has metadata before and between its scans, then every scan and table is kept as is', async () => {
    const clean = await rawImage(96, 64).jpeg({ progressive: true }).toBuffer();
    const scans = sosPositions(clean);
    assert.ok(scans.length > 2, `a progressive JPEG has several scans (found ${scans.length})`);
    const between = [jpegSegment(0xfe, ascii('between scans')), jpegSegment(0xe1, Buffer.concat([ascii('http://ns.adobe.com/xap/1.0/\0'), ascii(XMP)]))];
    const input = Buffer.concat([afterSoi(clean.subarray(0, scans[1]), jpegSegment(0xe1, exifWithGps())), ...between, clean.subarray(scans[1])]);
    assert.deepEqual(findMetadata(input, 'jpeg'), ['EXIF', 'comment', 'XMP']);
    const stripped = stripMetadata(input, 'jpeg');
    assertSameBytes(stripped, clean);
    assert.equal((await sharp(stripped).metadata()).isProgressive, true);
    await assertSamePicture(stripped, input);
  });

  test('when the entropy-coded data holds restart markers and stuffed 0xFF bytes, then they are read as data', async () => {
    const clean = jpegWithRestarts(64, 32, 3);
    const data = clean.subarray(sosPositions(clean)[0]!);
    assert.ok(data.includes(Buffer.from([0xff, 0x00])), 'the scan has stuffed 0xFF bytes');
    for (const rst of [0xd0, 0xd7]) assert.ok(data.includes(Buffer.from([0xff, rst])), `the scan has RST${rst - 0xd0}`);
    const comment = jpegSegment(0xfe, ascii('after the scan'));
    const input = Buffer.concat([afterSoi(clean.subarray(0, -2), jpegSegment(0xe1, exifWithGps())), comment, clean.subarray(-2)]);
    assert.deepEqual(findMetadata(input, 'jpeg'), ['EXIF', 'comment']);
    const stripped = stripMetadata(input, 'jpeg');
    assertSameBytes(stripped, clean);
    await assertSamePicture(stripped, input);
    assert.equal((await pixels(stripped)).width, 64);
  });

  test('when JFIF carries a thumbnail or a JFXX extension, then JFIF stays with a 0x0 thumbnail and JFXX goes', async () => {
    const clean = await rawImage(64, 48).jpeg().toBuffer();
    const jfif = afterSoi(clean, jpegSegment(0xe0, jfifWithThumbnail(0, 0)));
    const jfxx = jpegSegment(0xe0, Buffer.concat([ascii('JFXX\0'), Buffer.from([0x13, 2, 2]), Buffer.alloc(12, 0x40)]));
    const input = afterSoi(clean, jpegSegment(0xe0, jfifWithThumbnail(4, 3)), jfxx);
    assert.deepEqual(findMetadata(input, 'jpeg'), ['thumbnail']);
    assert.deepEqual(findMetadata(jfif, 'jpeg'), []);
    const stripped = stripMetadata(input, 'jpeg');
    assertSameBytes(stripped, jfif);
    await assertSamePicture(stripped, input);
  });

  test('when a CMYK JPEG has an Adobe segment, then it is kept, since it says how to read the components', async () => {
    const clean = await rawImage(32, 24).toColourspace('cmyk').jpeg().toBuffer();
    assert.ok(clean.includes(ascii('Adobe')), 'sharp wrote an APP14 Adobe segment');
    const input = afterSoi(clean, jpegSegment(0xe1, exifWithGps()), jpegSegment(0xee, ascii('Ducky?')));
    assert.deepEqual(findMetadata(input, 'jpeg'), ['EXIF', 'APP14 data']);
    assertSameBytes(stripMetadata(input, 'jpeg'), clean);
  });

  test('when stray bytes sit between two segments, then they are dropped as libjpeg skips them', async () => {
    const clean = await rawImage(32, 24).jpeg().toBuffer();
    const sos = sosPositions(clean)[0]!;
    const input = Buffer.concat([clean.subarray(0, sos), ascii('junk'), clean.subarray(sos)]);
    assert.deepEqual(findMetadata(input, 'jpeg'), ['extraneous bytes']);
    assertSameBytes(stripMetadata(input, 'jpeg'), clean);
  });

  test('when the JPEG is clean, then the same bytes come back', async () => {
    const clean = await rawImage(64, 48).withIccProfile('p3').jpeg().toBuffer();
    assert.deepEqual(findMetadata(clean, 'jpeg'), []);
    assert.equal(stripMetadata(clean, 'jpeg'), clean);
  });

  test('when the JPEG is truncated or its structure is broken, then MalformedImageError says so', async () => {
    const clean = await rawImage(64, 48).jpeg().toBuffer();
    const sos = sosPositions(clean)[0]!;
    assertMalformed(clean.subarray(0, -2), 'jpeg', /ends before its end-of-image marker/);
    assertMalformed(clean.subarray(0, sos + 200), 'jpeg', /ends before its end-of-image marker/);
    assertMalformed(clean.subarray(0, sos + 5), 'jpeg', /runs past the end/);
    const overlong = afterSoi(clean, Buffer.from([0xff, 0xe1, 0xff, 0xff, ...ascii('Exif\0\0')]));
    assertMalformed(overlong.subarray(0, 1000), 'jpeg', /runs past the end/);
    assertMalformed(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), 'jpeg', /no image data/);
    assertMalformed(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0x00, 0x01, 0xff, 0xd9]), 'jpeg', /impossible length/);
    assertMalformed(ascii('not a jpeg'), 'jpeg', /start-of-image/);
  });

  test('when a 10 MB JPEG with metadata is stripped, then it takes milliseconds', async (t: TestContext) => {
    const [width, height] = [2480, 1880];
    const photo = await sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 96, chromaSubsampling: '4:4:4' })
      .toBuffer();
    const input = Buffer.concat([afterSoi(photo, jpegSegment(0xe1, exifWithGps()), jpegSegment(0xfe, ascii('big'))), ascii('trailer')]);
    const stripped = stripMetadata(input, 'jpeg');
    assertSameBytes(stripped, photo);
    t.diagnostic(
      `a ${(input.length / 1e6).toFixed(1)} MB JPEG, median of 7: findMetadata (the walk) ${timeIt(() => findMetadata(input, 'jpeg')).toFixed(2)} ms, ` +
        `stripMetadata (walk + 10 MB copy) ${timeIt(() => stripMetadata(input, 'jpeg')).toFixed(2)} ms`,
    );
  });
});

describe('stripMetadata: PNG', () => {
  test('when sharp wrote EXIF, XMP and an ICC profile, then eXIf and the XMP text chunk go and iCCP and IDAT stay', async () => {
    const tagged = await rawImage(64, 48).withIccProfile('p3').withExif(EXIF).withXmp(XMP).png().toBuffer();
    const before = await sharp(tagged).metadata();
    assert.ok(before.exif && before.xmp && before.icc, 'the input carries EXIF, XMP and ICC');
    assert.deepEqual(findMetadata(tagged, 'png'), ['EXIF', 'XMP']);

    const stripped = stripMetadata(tagged, 'png');
    await assertClean(stripped, 'png');
    const types = (png: Uint8Array) => pngChunks(Buffer.from(png)).map((c) => c.type);
    assert.deepEqual(types(stripped), types(tagged).filter((type) => type !== 'eXIf' && type !== 'zTXt'));
    assert.ok(types(stripped).includes('iCCP'));
    const idat = (png: Uint8Array) => Buffer.concat(pngChunks(Buffer.from(png)).filter((c) => c.type === 'IDAT').map((c) => c.bytes));
    assertSameBytes(idat(stripped), idat(tagged), 'IDAT chunks');
    assert.ok((await sharp(stripped).metadata()).icc?.equals(before.icc));
    await assertSamePicture(stripped, tagged);
  });

  test('when text, XMP, eXIf, tIME, private and unknown chunks and trailing data are spliced in, then exactly those go', async () => {
    const [ihdr, ...rest] = pngChunks(await rawImage(64, 48).png().toBuffer()).map((c) => c.bytes);
    const rendering = [
      pngChunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f])),
      pngChunk('cHRM', Buffer.from([0, 0, 0x7a, 0x26, 0, 0, 0x80, 0x84, 0, 0, 0xfa, 0, 0, 0, 0x80, 0xe8, 0, 0, 0x75, 0x30, 0, 0, 0xea, 0x60, 0, 0, 0x3a, 0x98, 0, 0, 0x17, 0x70])),
      pngChunk('sBIT', Buffer.from([8, 8, 8])),
    ];
    const clean = pngFrom([ihdr!, ...rendering, ...rest]);
    const iend = rest.pop()!;
    const input = Buffer.concat([
      pngFrom([
        ihdr!,
        textChunk('tEXt', 'Author', 'Jane Doe'),
        ...rendering.slice(0, 1),
        textChunk('iTXt', 'XML:com.adobe.xmp', XMP),
        pngChunk('eXIf', exifWithGps().subarray(6)),
        pngChunk('tIME', Buffer.from([0x07, 0xe8, 5, 1, 12, 0, 0])),
        ...rendering.slice(1),
        pngChunk('prVt', ascii('a private chunk')),
        pngChunk('hIST', Buffer.alloc(0)),
        ...rest,
        textChunk('tEXt', 'Comment', 'after the pixels'),
        iend,
      ]),
      ascii('<html>appended</html>'),
    ]);
    assert.deepEqual(findMetadata(input, 'png'), ['text', 'XMP', 'EXIF', 'timestamp', 'prVt chunk', 'hIST chunk', 'trailing data']);
    const stripped = stripMetadata(input, 'png');
    assertSameBytes(stripped, clean);
    await assertClean(stripped, 'png');
    await assertSamePicture(stripped, input);
  });

  test('when an APNG has text chunks, then acTL, fcTL and fdAT are kept byte for byte', async () => {
    const first = pngChunks(await rawImage(32, 24, 4, 1).png().toBuffer());
    const second = pngChunks(await rawImage(32, 24, 4, 2).png().toBuffer());
    const u32 = (...values: number[]) => Buffer.concat(values.map((v) => Buffer.from([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff])));
    const fcTL = (sequence: number) => pngChunk('fcTL', Buffer.concat([u32(sequence, 32, 24, 0, 0), Buffer.from([0, 1, 0, 10, 0, 0])]));
    const idat = (chunks: typeof first) => chunks.filter((c) => c.type === 'IDAT');
    const animation = [
      first[0]!.bytes,
      pngChunk('acTL', u32(2, 0)),
      fcTL(0),
      ...idat(first).map((c) => c.bytes),
      fcTL(1),
      pngChunk('fdAT', Buffer.concat([u32(2), ...idat(second).map((c) => c.data)])),
    ];
    const iend = pngChunk('IEND', Buffer.alloc(0));
    const clean = pngFrom([...animation, iend]);
    const input = pngFrom([...animation.slice(0, 2), textChunk('tEXt', 'Software', 'apng maker'), ...animation.slice(2), textChunk('tEXt', 'Title', 't'), iend]);
    assert.deepEqual(findMetadata(input, 'png'), ['text']);
    const stripped = stripMetadata(input, 'png');
    assertSameBytes(stripped, clean);
    assert.deepEqual(pngChunks(Buffer.from(stripped)).map((c) => c.type), ['IHDR', 'acTL', 'fcTL', 'IDAT', 'fcTL', 'fdAT', 'IEND']);
    await assertSamePicture(stripped, input);
  });

  test('when an unknown critical chunk is present, then it is kept, so the file stays exactly as readable as it was', async () => {
    const [ihdr, ...rest] = pngChunks(await rawImage(8, 8).png().toBuffer()).map((c) => c.bytes);
    const input = pngFrom([ihdr!, pngChunk('ZZZZ', Buffer.from([1, 2, 3])), ...rest]);
    assert.deepEqual(findMetadata(input, 'png'), []);
    assert.equal(stripMetadata(input, 'png'), input);
  });

  test('when the PNG is truncated or its structure is broken, then MalformedImageError says so', async () => {
    const clean = await rawImage(64, 48).png().toBuffer();
    const chunks = pngChunks(clean);
    assertMalformed(clean.subarray(0, -12), 'png', /ends before its IEND chunk/);
    assertMalformed(clean.subarray(0, clean.length - 40), 'png', /runs past the end/);
    assertMalformed(pngFrom(chunks.filter((c) => c.type !== 'IDAT').map((c) => c.bytes)), 'png', /no image data/);
    assertMalformed(pngFrom(chunks.filter((c) => c.type !== 'IHDR').map((c) => c.bytes)), 'png', /IHDR/);
    assertMalformed(ascii('not a png at all'), 'png', /signature/);
  });

  test('when a 10 MB PNG with metadata is stripped, then it takes milliseconds', async (t: TestContext) => {
    const [width, height] = [1900, 1800];
    const photo = await sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    const [ihdr, ...rest] = pngChunks(photo).map((c) => c.bytes);
    const input = pngFrom([ihdr!, pngChunk('eXIf', exifWithGps().subarray(6)), textChunk('iTXt', 'XML:com.adobe.xmp', XMP), ...rest]);
    assertSameBytes(stripMetadata(input, 'png'), photo);
    t.diagnostic(
      `a ${(input.length / 1e6).toFixed(1)} MB PNG of ${pngChunks(photo).length} chunks, median of 7: findMetadata ${timeIt(() => findMetadata(input, 'png')).toFixed(2)} ms, ` +
        `stripMetadata ${timeIt(() => stripMetadata(input, 'png')).toFixed(2)} ms`,
    );
  });
});

describe('stripMetadata: WebP', () => {
  const VP8X_EXIF_XMP = 0x0c;

  test('when sharp wrote EXIF and XMP into a lossy WebP, then their chunks and VP8X flags go and the VP8 data stays', async () => {
    const tagged = await rawImage(64, 48).withExif(EXIF).withXmp(XMP).webp({ quality: 80 }).toBuffer();
    const before = await sharp(tagged).metadata();
    assert.ok(before.exif && before.xmp, 'the input carries EXIF and XMP');
    assert.deepEqual(findMetadata(tagged, 'webp'), ['EXIF', 'XMP']);

    const stripped = Buffer.from(stripMetadata(tagged, 'webp'));
    await assertClean(stripped, 'webp');
    const chunks = webpChunks(stripped);
    assert.deepEqual(chunks.map((c) => c.type), ['VP8X', 'VP8 ']);
    assert.equal(chunks[0]!.data[0]! & VP8X_EXIF_XMP, 0);
    assert.equal(stripped.readUInt32LE(4), stripped.length - 8);
    assertSameBytes(chunks[1]!.bytes, webpChunks(tagged).find((c) => c.type === 'VP8 ')!.bytes, 'VP8 chunk');
    await assertSamePicture(stripped, tagged);
  });

  test('when a lossless WebP with alpha has an ICC profile and EXIF, then the profile and the VP8L data stay', async () => {
    const tagged = await rawImage(64, 48, 4).withIccProfile('p3').withExif(EXIF).webp({ lossless: true }).toBuffer();
    const before = await sharp(tagged).metadata();
    assert.ok(before.exif && before.icc && before.hasAlpha);
    const stripped = Buffer.from(stripMetadata(tagged, 'webp'));
    await assertClean(stripped, 'webp');
    assert.deepEqual(webpChunks(stripped).map((c) => c.type), ['VP8X', 'ICCP', 'VP8L']);
    assert.ok((await sharp(stripped).metadata()).icc?.equals(before.icc));
    await assertSamePicture(stripped, tagged);
  });

  test('when an animated WebP has EXIF, then every frame, the loop count and the delays are kept', async () => {
    const tagged = await rawAnimation(32, 24, 3).withExif(EXIF).webp({ loop: 2, delay: [100, 200, 300] }).toBuffer();
    const stripped = Buffer.from(stripMetadata(tagged, 'webp'));
    await assertClean(stripped, 'webp');
    const { pages, loop, delay } = await sharp(stripped).metadata();
    assert.deepEqual({ pages, loop, delay }, { pages: 3, loop: 2, delay: [100, 200, 300] });
    const frames = (webp: Buffer) => Buffer.concat(webpChunks(webp).filter((c) => c.type === 'ANMF').map((c) => c.bytes));
    assertSameBytes(frames(stripped), frames(tagged), 'ANMF chunks');
    await assertSamePicture(stripped, tagged);
  });

  test('when an animation frame holds an unknown chunk, then it goes and the frame and RIFF sizes are rewritten', async () => {
    const clean = Buffer.from(stripMetadata(await rawAnimation(32, 24, 2).webp({ loop: 0 }).toBuffer(), 'webp'));
    const chunks = webpChunks(clean);
    const frame = chunks.findIndex((c) => c.type === 'ANMF');
    const anmf = chunks[frame]!;
    const odd = webpChunk('ABCD', ascii('odd'));
    const grown = webpChunk('ANMF', Buffer.concat([anmf.data, odd]));
    const input = webpFrom([...chunks.slice(0, frame).map((c) => c.bytes), grown, ...chunks.slice(frame + 1).map((c) => c.bytes)]);
    assert.deepEqual(findMetadata(input, 'webp'), ['ABCD chunk']);
    assertSameBytes(stripMetadata(input, 'webp'), clean);
  });

  test('when EXIF, XMP (odd sizes, padded), an unknown chunk and trailing bytes are spliced in, then exactly those go', async () => {
    const simple = await rawImage(64, 48).webp().toBuffer();
    const vp8 = webpChunks(simple)[0]!;
    const vp8x = (flags: number) => webpChunk('VP8X', Buffer.from([flags, 0, 0, 0, 63, 0, 0, 47, 0, 0]));
    const clean = webpFrom([vp8x(0), vp8.bytes]);
    const exif = webpChunk('EXIF', exifWithGps().subarray(6, 6 + 81));
    assert.equal(exif.length % 2, 0, 'the odd EXIF chunk carries a pad byte');
    const input = Buffer.concat([webpFrom([vp8x(VP8X_EXIF_XMP), exif, vp8.bytes, webpChunk('XMP ', ascii(`${XMP} `)), webpChunk('ABCD', ascii('?'))]), ascii('tail')]);
    assert.deepEqual(findMetadata(input, 'webp'), ['EXIF', 'XMP', 'ABCD chunk', 'trailing data']);
    const stripped = stripMetadata(input, 'webp');
    assertSameBytes(stripped, clean);
    await assertClean(stripped, 'webp');
    await assertSamePicture(stripped, simple);
  });

  test('when a simple WebP has an EXIF chunk glued after its bitstream, then it goes and the file is simple again', async () => {
    const simple = await rawImage(64, 48).webp().toBuffer();
    const input = webpFrom([webpChunks(simple)[0]!.bytes, webpChunk('EXIF', exifWithGps().subarray(6))]);
    assert.deepEqual(findMetadata(input, 'webp'), ['EXIF']);
    assertSameBytes(stripMetadata(input, 'webp'), simple);
  });

  test('when the WebP is clean, then the same bytes come back', async () => {
    for (const clean of [await rawImage(32, 24).webp().toBuffer(), await rawImage(32, 24, 4).withIccProfile('p3').webp({ lossless: true }).toBuffer()]) {
      assert.deepEqual(findMetadata(clean, 'webp'), []);
      assert.equal(stripMetadata(clean, 'webp'), clean);
    }
  });

  test('when the WebP is truncated or its structure is broken, then MalformedImageError says so', async () => {
    const clean = await rawImage(64, 48).webp().toBuffer();
    assertMalformed(clean.subarray(0, -10), 'webp', /ends before the size its header declares/);
    const overrun = Buffer.from(clean);
    overrun.writeUInt32LE(overrun.readUInt32LE(16) + 100, 16);
    assertMalformed(overrun, 'webp', /runs past the end/);
    assertMalformed(webpFrom([webpChunk('EXIF', ascii('no picture'))]), 'webp', /does not start with an image chunk/);
    assertMalformed(webpFrom([webpChunk('VP8X', Buffer.alloc(10)), webpChunk('EXIF', ascii('no picture'))]), 'webp', /no image data/);
    assertMalformed(ascii('RIFF\x04\0\0\0WAVE'), 'webp', /not a RIFF WebP/);
  });
});

describe('stripMetadata: GIF', () => {
  const animation = () => rawAnimation(32, 24, 3).gif({ loop: 2, delay: [100, 200, 300] }).toBuffer();

  test('when an animated GIF has comments, XMP, IPTC, plain text and trailing data, then exactly those go', async () => {
    const clean = await animation();
    const before = await sharp(clean).metadata();
    assert.deepEqual([before.pages, before.loop, before.delay], [3, 2, [100, 200, 300]]);
    const start = gifBlocksStart(clean);
    const input = Buffer.concat([
      clean.subarray(0, start),
      gifComment('made by Jane'),
      clean.subarray(start, -1),
      gifXmp(XMP),
      gifApplication('MGK8BIM0000', photoshopIptc('caption').subarray(14)),
      gifPlainText('hello'),
      gifComment('the end'),
      clean.subarray(-1),
      ascii('PK\x03\x04 a zip file'),
    ]);
    assert.deepEqual(findMetadata(input, 'gif'), ['comment', 'XMP', 'IPTC', 'text', 'trailing data']);
    const stripped = stripMetadata(input, 'gif');
    assertSameBytes(stripped, clean);
    await assertClean(stripped, 'gif');
    const after = await sharp(stripped).metadata();
    assert.deepEqual([after.pages, after.loop, after.delay], [3, 2, [100, 200, 300]]);
    await assertSamePicture(stripped, input);
  });

  test('when a GIF carries an ICC profile extension, then it is kept with the looping extension', async () => {
    const clean = await animation();
    const withProfile = Buffer.concat([clean.subarray(0, -1), gifApplication('ICCRGBG1012', Buffer.alloc(300, 7)), clean.subarray(-1)]);
    assert.ok(clean.includes(ascii('NETSCAPE2.0')));
    assert.deepEqual(findMetadata(withProfile, 'gif'), []);
    assert.equal(stripMetadata(withProfile, 'gif'), withProfile);
    const input = Buffer.concat([withProfile.subarray(0, -1), gifApplication('SOMEAPP 1.0', ascii('data')), withProfile.subarray(-1)]);
    assert.deepEqual(findMetadata(input, 'gif'), ['application data']);
    assertSameBytes(stripMetadata(input, 'gif'), withProfile);
  });

  test('when a GIF ends after a complete block without its trailer, then the trailer is supplied', async () => {
    const clean = await animation();
    const stripped = stripMetadata(clean.subarray(0, -1), 'gif');
    assertSameBytes(stripped, clean);
    const withComment = Buffer.concat([clean.subarray(0, -1), gifComment('last words')]);
    assertSameBytes(stripMetadata(withComment, 'gif'), clean);
  });

  test('when the GIF is clean, then the same bytes come back', async () => {
    const clean = await animation();
    assert.deepEqual(findMetadata(clean, 'gif'), []);
    assert.equal(stripMetadata(clean, 'gif'), clean);
  });

  test('when the GIF ends inside a block or has a broken structure, then MalformedImageError says so', async () => {
    const clean = await animation();
    assertMalformed(clean.subarray(0, -20), 'gif', /ends in the middle of a block/);
    assertMalformed(clean.subarray(0, gifBlocksStart(clean)), 'gif', /no image data/);
    assertMalformed(Buffer.concat([clean.subarray(0, -1), Buffer.from([0x99]), clean.subarray(-1)]), 'gif', /unknown type/);
    assertMalformed(ascii('GIF90a and more bytes'), 'gif', /GIF header/);
  });
});

describe('stripMetadata: damaged input', () => {
  test('when files are cut or bytes overwritten at random, then each gives a clean file or a MalformedImageError', async () => {
    const samples: [ContainerType, Buffer][] = [
      ['jpeg', await rawImage(40, 30).withExif(EXIF).withXmp(XMP).jpeg({ progressive: true }).toBuffer()],
      ['png', await rawImage(40, 30).withExif(EXIF).withXmp(XMP).withIccProfile('p3').png().toBuffer()],
      ['webp', await rawAnimation(24, 16, 2).withExif(EXIF).webp({ loop: 1 }).toBuffer()],
      ['gif', Buffer.concat([await rawAnimation(24, 16, 2).gif().toBuffer(), gifComment('after')])],
    ];
    let state = 42;
    const random = (below: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return Math.floor((state / 2 ** 32) * below);
    };
    for (const [type, sample] of samples) {
      for (let round = 0; round < 400; round++) {
        const input = Buffer.from(sample.subarray(0, round % 3 === 0 ? random(sample.length) : sample.length));
        if (round % 3 !== 0) for (let k = 0; k < 3; k++) input[random(input.length)] = [0x00, 0xff, random(256)][random(3)]!;
        let stripped: Uint8Array;
        try {
          stripped = stripMetadata(input, type);
        } catch (error) {
          assert.ok(error instanceof MalformedImageError, `${type} round ${round}: ${String(error)}`);
          continue;
        }
        assert.deepEqual(findMetadata(stripped, type), [], `${type} round ${round}`);
        assert.equal(stripMetadata(stripped, type), stripped, `${type} round ${round}`);
      }
    }
  });
});
