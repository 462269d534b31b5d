/**
 * Lossless metadata removal for the stored image types. Each container is walked by its structure (JPEG
 * marker segments, PNG chunks, RIFF chunks, GIF blocks) and the parts that carry metadata are cut out; the
 * parts that make the picture are kept byte for byte, so nothing is decoded or re-compressed. EXIF goes with
 * everything else, orientation included: the caller applies a non-default orientation before stripping.
 */

export type ContainerType = 'png' | 'jpeg' | 'webp' | 'gif';

const formatNames: Record<ContainerType, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP', gif: 'GIF' };

/** Thrown when the container structure is broken (a chunk or segment running past the end, a missing end marker). */
export class MalformedImageError extends Error {
  constructor(
    readonly type: ContainerType,
    /** What is wrong, as a clause: "it ends before its end-of-image marker". */
    readonly detail: string,
  ) {
    super(`The ${formatNames[type]} file is damaged or incomplete: ${detail}.`);
    this.name = 'MalformedImageError';
  }
}

/**
 * One change to the input: bytes [start, end) are replaced by `replacement` (nothing when absent). `name`
 * says which metadata the change removes; null for bookkeeping that follows from other changes (a size field).
 */
interface Edit {
  start: number;
  end: number;
  replacement?: Uint8Array;
  name: string | null;
}

/**
 * The same image without metadata. Keeps, byte for byte, everything that affects how the image renders; drops
 * EXIF (GPS included), XMP, IPTC/Photoshop IRB, comments, text chunks, timestamps, MakerNotes, MPF/secondary
 * images, thumbnails, and anything after the image's end marker. Returns `bytes` itself when there is nothing to
 * remove. Throws MalformedImageError when the structure is broken.
 */
export function stripMetadata(bytes: Uint8Array, type: ContainerType): Uint8Array {
  const edits = plan(bytes, type);
  if (edits.length === 0) return bytes;
  const pieces: Uint8Array[] = [];
  let cursor = 0;
  for (const edit of edits) {
    if (edit.start > cursor) pieces.push(bytes.subarray(cursor, edit.start));
    if (edit.replacement) pieces.push(edit.replacement);
    cursor = edit.end;
  }
  if (cursor < bytes.length) pieces.push(bytes.subarray(cursor));
  return Buffer.concat(pieces);
}

/**
 * Names of the metadata blocks present, in file order without repeats, e.g. ['EXIF', 'XMP', 'IPTC', 'comment',
 * 'text', 'trailing data']; [] when clean. Throws MalformedImageError like stripMetadata.
 */
export function findMetadata(bytes: Uint8Array, type: ContainerType): string[] {
  const names = new Set<string>();
  for (const edit of plan(bytes, type)) if (edit.name) names.add(edit.name);
  return [...names];
}

function plan(bytes: Uint8Array, type: ContainerType): Edit[] {
  const edits =
    type === 'jpeg' ? planJpeg(bytes) : type === 'png' ? planPng(bytes) : type === 'webp' ? planWebp(bytes) : type === 'gif' ? planGif(bytes) : null;
  if (!edits) throw new TypeError(`Unknown image type: ${String(type)}`);
  return edits.sort((a, b) => a.start - b.start);
}

const startsWith = (bytes: Uint8Array, at: number, ascii: string) => {
  if (at + ascii.length > bytes.length) return false;
  for (let i = 0; i < ascii.length; i++) if (bytes[at + i] !== ascii.charCodeAt(i)) return false;
  return true;
};
const u16be = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32be = (b: Uint8Array, at: number) => b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
const u32le = (b: Uint8Array, at: number) => b[at + 3]! * 0x1000000 + ((b[at + 2]! << 16) | (b[at + 1]! << 8) | b[at]!);
const fourCC = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const trailing = (bytes: Uint8Array, end: number): Edit[] => (end < bytes.length ? [{ start: end, end: bytes.length, name: 'trailing data' }] : []);

// ---------------------------------------------------------------------------------------------------------
// JPEG (ITU T.81 annex B; JFIF 1.02; Exif 2.32 section 4.5; CIPA DC-007 for MPF)

/**
 * Index of the 0xFF that starts the next marker at or after `from` (fill bytes 0xFF before it skipped), or -1.
 * Mirrors libjpeg's next_marker(): 0xFF00 is a stuffed data byte, not a marker. Inside entropy-coded data
 * RST0-7 are part of the data too (`inScan`).
 */
function nextJpegMarker(buffer: Buffer, from: number, inScan: boolean): number {
  const n = buffer.length;
  let i = from;
  for (;;) {
    // indexOf is memchr: a 10 MB scan costs a few ms, where a JavaScript loop over every byte would not.
    i = buffer.indexOf(0xff, i);
    if (i < 0) return -1;
    let code = i + 1;
    while (code < n && buffer[code] === 0xff) code++;
    if (code >= n) return -1;
    const c = buffer[code]!;
    if (c !== 0x00 && !(inScan && c >= 0xd0 && c <= 0xd7)) return code - 1;
    i = code + 1;
  }
}

/**
 * What an APPn segment is, from its identifier: 'keep', 'jfif', or the name of the metadata it holds. Anything
 * not needed to render the picture is dropped.
 */
function classifyApp(b: Uint8Array, marker: number, payload: number): string {
  const n = marker - 0xe0;
  const is = (id: string) => startsWith(b, payload, id);
  switch (n) {
    case 0:
      // JFIF says how to read the components (YCbCr) and the pixel density; its JFXX extension only holds a thumbnail.
      if (is('JFIF\0')) return 'jfif';
      if (is('JFXX\0')) return 'thumbnail';
      break;
    case 1:
      if (is('Exif')) return 'EXIF';
      if (is('http://ns.adobe.com/xap/1.0/\0') || is('http://ns.adobe.com/xmp/extension/\0')) return 'XMP';
      break;
    case 2:
      // The ICC profile gives the colours their meaning; a large one is split over several APP2 segments.
      if (is('ICC_PROFILE\0')) return 'keep';
      if (is('MPF\0')) return 'MPF';
      if (is('FPXR\0')) return 'FlashPix';
      break;
    case 13:
      if (is('Photoshop 3.0\0')) return 'IPTC';
      break;
    case 14:
      // Adobe's transform flag decides whether 3 or 4 components are YCbCr/YCCK or RGB/CMYK.
      if (is('Adobe')) return 'keep';
      break;
  }
  return `APP${n} data`;
}

const JFIF_HEADER = 14; // "JFIF\0", version 2, units 1, densities 2+2, thumbnail width 1 and height 1

function planJpeg(b: Uint8Array): Edit[] {
  const fail = (detail: string) => new MalformedImageError('jpeg', detail);
  const buffer = view(b);
  const n = b.length;
  if (n < 4 || b[0] !== 0xff || b[1] !== 0xd8) throw fail('it does not start with a JPEG start-of-image marker');
  const edits: Edit[] = [];
  let sawScan = false;
  let pos = 2;
  for (;;) {
    const at = nextJpegMarker(buffer, pos, false);
    if (at < 0) throw fail('it ends before its end-of-image marker');
    let segmentStart = pos;
    if (at > pos && !isFill(b, pos, at)) {
      // libjpeg skips bytes between segments with a warning; they render as nothing, and could hold anything.
      edits.push({ start: pos, end: at, name: 'extraneous bytes' });
      segmentStart = at;
    }
    const marker = b[at + 1]!;
    if (marker === 0xd9) {
      if (!sawScan) throw fail('it holds no image data');
      // Phones append MPF secondary images, gain maps, Samsung trailers and motion-photo videos after EOI.
      edits.push(...trailing(b, at + 2));
      return edits;
    }
    if (marker === 0xd8) throw fail('it holds a second start-of-image marker');
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos = at + 2; // RSTn and TEM stand alone, without a length; decoders ignore them here
      continue;
    }
    if (at + 4 > n) throw fail('it ends before its end-of-image marker');
    const length = u16be(b, at + 2);
    if (length < 2) throw fail('a segment has an impossible length');
    const end = at + 2 + length;
    if (end > n) throw fail('a segment runs past the end of the file');

    if (marker >= 0xe0 && marker <= 0xef) {
      const verdict = classifyApp(b, marker, at + 4);
      if (verdict === 'jfif') {
        const jfif = withoutJfifThumbnail(b, at, end);
        if (jfif) edits.push(jfif);
      } else if (verdict !== 'keep') {
        edits.push({ start: segmentStart, end, name: verdict });
      }
      pos = end;
    } else if (marker === 0xfe) {
      edits.push({ start: segmentStart, end, name: 'comment' });
      pos = end;
    } else if (marker === 0xda) {
      // The scan's entropy-coded data runs to the next marker that is not RSTn; a progressive image has several
      // scans with tables between them, which the loop then walks like any other segment.
      sawScan = true;
      pos = nextJpegMarker(buffer, end, true);
      if (pos < 0) throw fail('it ends before its end-of-image marker');
    } else {
      // SOFn, DHT, DAC, DQT, DRI, DNL, DHP, EXP and the reserved codes: picture structure, kept as they are.
      // Metadata never lives here, and a decoder refuses a code it does not know, so a file keeps its fate.
      pos = end;
    }
  }
}

function isFill(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0xff) return false;
  return true;
}

/**
 * JFIF's APP0 may carry an uncompressed RGB thumbnail, which can show what a crop removed: the segment is
 * rebuilt with a 0x0 thumbnail. Null when there is none (or the segment is too short to be JFIF, kept as is).
 */
function withoutJfifThumbnail(b: Uint8Array, at: number, end: number): Edit | null {
  const payload = at + 4;
  if (end - payload <= JFIF_HEADER) return null;
  const hasThumbnail = b[payload + 12]! > 0 && b[payload + 13]! > 0;
  const segment = new Uint8Array(4 + JFIF_HEADER);
  segment.set(b.subarray(at, at + 4 + JFIF_HEADER - 2));
  segment[2] = 0;
  segment[3] = 2 + JFIF_HEADER;
  return { start: at, end, replacement: segment, name: hasThumbnail ? 'thumbnail' : 'extraneous bytes' };
}

// ---------------------------------------------------------------------------------------------------------
// PNG (PNG third edition; APNG)

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Ancillary chunks that change how the picture looks (colour, transparency, HDR, aspect) or animates. */
const PNG_KEEP = new Set([
  'IHDR', 'PLTE', 'IDAT', 'IEND', // critical
  'tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP', 'sBIT', 'cICP', 'mDCv', 'cLLI', 'bKGD', 'pHYs', // rendering
  'acTL', 'fcTL', 'fdAT', // APNG
]);

/** Keywords under which ImageMagick and Adobe keep EXIF, IPTC and XMP in text chunks. */
function textChunkName(b: Uint8Array, data: number, end: number): string {
  // A keyword is 1 to 79 Latin-1 characters ended by a NUL.
  const keywordLength = b.subarray(data, Math.min(end, data + 80)).indexOf(0);
  const keyword = keywordLength < 1 ? '' : view(b).toString('latin1', data, data + keywordLength).toLowerCase();
  if (keyword === 'xml:com.adobe.xmp' || keyword === 'raw profile type xmp') return 'XMP';
  if (keyword === 'raw profile type exif' || keyword === 'raw profile type app1') return 'EXIF';
  if (keyword === 'raw profile type iptc' || keyword === 'raw profile type 8bim') return 'IPTC';
  return 'text';
}

function planPng(b: Uint8Array): Edit[] {
  const fail = (detail: string) => new MalformedImageError('png', detail);
  const n = b.length;
  if (n < 8 || PNG_SIGNATURE.some((byte, i) => b[i] !== byte)) throw fail('it does not start with the PNG signature');
  const edits: Edit[] = [];
  let sawImageData = false;
  for (let pos = 8; ; ) {
    if (pos + 12 > n) throw fail('it ends before its IEND chunk');
    const length = u32be(b, pos);
    if (length > 0x7fffffff) throw fail('a chunk has an impossible length');
    const end = pos + 12 + length;
    if (end > n) throw fail('a chunk runs past the end of the file');
    for (let i = pos + 4; i < pos + 8; i++) {
      const c = b[i]! | 0x20;
      if (c < 0x61 || c > 0x7a) throw fail('a chunk has an invalid type');
    }
    const type = fourCC(b, pos + 4);
    if (pos === 8 && type !== 'IHDR') throw fail('it does not start with an IHDR chunk');
    if (type === 'IEND') {
      if (!sawImageData) throw fail('it holds no image data');
      edits.push(...trailing(b, end));
      return edits;
    }
    if (type === 'IDAT') sawImageData = true;
    if (!PNG_KEEP.has(type)) {
      // Bit 5 of the first letter clear means critical: a decoder must refuse a critical chunk it does not
      // know, so one is kept (the file stays exactly as readable as it was) and never holds metadata.
      const critical = (b[pos + 4]! & 0x20) === 0;
      if (!critical) {
        const name =
          type === 'eXIf' ? 'EXIF'
          : type === 'tEXt' || type === 'zTXt' || type === 'iTXt' ? textChunkName(b, pos + 8, end - 4)
          : type === 'tIME' ? 'timestamp'
          : `${type} chunk`;
        edits.push({ start: pos, end, name });
      }
    }
    pos = end;
  }
}

// ---------------------------------------------------------------------------------------------------------
// WebP (RFC 9649)

interface RiffChunk {
  type: string;
  start: number;
  /** Payload start and end; `end` includes the pad byte that keeps chunks at even offsets. */
  data: number;
  dataEnd: number;
  end: number;
}

function riffChunks(b: Uint8Array, from: number, to: number, fail: (detail: string) => Error): RiffChunk[] {
  const chunks: RiffChunk[] = [];
  for (let pos = from; pos < to; ) {
    if (pos + 8 > to) throw fail('a chunk runs past the end of the file');
    const size = u32le(b, pos + 4);
    const dataEnd = pos + 8 + size;
    if (dataEnd > to) throw fail('a chunk runs past the end of the file');
    // A writer that leaves out the last chunk's pad byte is tolerated, as libwebp does.
    const end = Math.min(dataEnd + (size & 1), to);
    chunks.push({ type: fourCC(b, pos), start: pos, data: pos + 8, dataEnd, end });
    pos = end;
  }
  return chunks;
}

const webpChunkName = (type: string) =>
  type === 'EXIF' ? 'EXIF' : type === 'XMP ' ? 'XMP' : /^[\x21-\x7e][\x20-\x7e]{3}$/.test(type) ? `${type.trim()} chunk` : 'unknown chunk';
const isBitstream = (type: string) => type === 'VP8 ' || type === 'VP8L';
const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;
const ANMF_HEADER = 16; // x, y, width, height (3 bytes each), duration (3), flags (1)

function sizeField(at: number, size: number): Edit {
  const replacement = new Uint8Array(4);
  new DataView(replacement.buffer).setUint32(0, size, true);
  return { start: at, end: at + 4, replacement, name: null };
}

function planWebp(b: Uint8Array): Edit[] {
  const fail = (detail: string) => new MalformedImageError('webp', detail);
  const n = b.length;
  if (n < 12 || !startsWith(b, 0, 'RIFF') || !startsWith(b, 8, 'WEBP')) throw fail('it is not a RIFF WebP file');
  const riffSize = u32le(b, 4);
  const riffEnd = 8 + riffSize;
  if (riffSize < 4 || riffEnd > n) throw fail('it ends before the size its header declares');
  const chunks = riffChunks(b, 12, riffEnd, fail);
  const first = chunks[0];
  if (!first) throw fail('it holds no image data');
  const body: Edit[] = [];

  if (isBitstream(first.type)) {
    // Simple format: the one bitstream chunk is the whole image. Anything after it is not part of the format
    // (some tools glue EXIF there); libwebp ignores it.
    for (const chunk of chunks.slice(1)) body.push({ start: chunk.start, end: chunk.end, name: webpChunkName(chunk.type) });
  } else if (first.type === 'VP8X') {
    if (first.dataEnd - first.data < 10) throw fail('its VP8X chunk is too short');
    let sawImage = false;
    const seen = new Set<string>();
    for (const chunk of chunks.slice(1)) {
      seen.add(chunk.type);
      if (isBitstream(chunk.type) || chunk.type === 'ANMF') sawImage = true;
      if (chunk.type === 'ANMF') body.push(...planAnmf(b, chunk, fail));
      else if (!isBitstream(chunk.type) && chunk.type !== 'ICCP' && chunk.type !== 'ANIM' && chunk.type !== 'ALPH') {
        body.push({ start: chunk.start, end: chunk.end, name: webpChunkName(chunk.type) });
      }
    }
    if (!sawImage) throw fail('it holds no image data');
    // The flags announce the EXIF and XMP chunks; a reader trusting them would look for chunks that are gone.
    const flags = b[first.data]!;
    if (flags & (VP8X_EXIF | VP8X_XMP)) {
      const stale = (flags & VP8X_EXIF && !seen.has('EXIF')) || (flags & VP8X_XMP && !seen.has('XMP '));
      body.push({ start: first.data, end: first.data + 1, replacement: Uint8Array.of(flags & ~(VP8X_EXIF | VP8X_XMP)), name: stale ? 'metadata flag' : null });
    }
  } else {
    throw fail('it does not start with an image chunk (VP8, VP8L or VP8X)');
  }

  const edits = [...body, ...trailing(b, riffEnd)];
  const removed = body.reduce((sum, e) => sum + (e.end - e.start) - (e.replacement?.length ?? 0), 0);
  if (removed) edits.push(sizeField(4, riffSize - removed));
  return edits;
}

/** An animation frame holds an optional ALPH and one bitstream; the format allows unknown chunks after them. */
function planAnmf(b: Uint8Array, frame: RiffChunk, fail: (detail: string) => Error): Edit[] {
  if (frame.dataEnd - frame.data < ANMF_HEADER) throw fail('an animation frame is too short');
  const edits: Edit[] = [];
  let removed = 0;
  for (const chunk of riffChunks(b, frame.data + ANMF_HEADER, frame.dataEnd, fail)) {
    if (isBitstream(chunk.type) || chunk.type === 'ALPH') continue;
    edits.push({ start: chunk.start, end: chunk.end, name: webpChunkName(chunk.type) });
    removed += chunk.end - chunk.start;
  }
  if (removed) edits.push(sizeField(frame.start + 4, frame.dataEnd - frame.data - removed));
  return edits;
}

// ---------------------------------------------------------------------------------------------------------
// GIF (GIF89a specification)

/** Application extensions (identifier + authentication code) that change how the picture is shown. */
const GIF_KEEP_APPLICATIONS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0', 'ICCRGBG1012']);
const colourTableSize = (packed: number) => (packed & 0x80 ? 3 << ((packed & 0x07) + 1) : 0);

function planGif(b: Uint8Array): Edit[] {
  const fail = (detail: string) => new MalformedImageError('gif', detail);
  const n = b.length;
  if (n < 13 || !(startsWith(b, 0, 'GIF87a') || startsWith(b, 0, 'GIF89a'))) throw fail('it does not start with a GIF header');

  /** Position after the data sub-blocks starting at `pos` (each a length byte and data, ended by a 0 length). */
  const skipSubBlocks = (pos: number) => {
    for (;;) {
      if (pos >= n) throw fail('it ends in the middle of a block');
      const size = b[pos]!;
      pos += 1 + size;
      if (size === 0) return pos;
    }
  };

  const edits: Edit[] = [];
  let sawImage = false;
  let pos = 13 + colourTableSize(b[10]!);
  if (pos > n) throw fail('it ends in the middle of a block');
  for (;;) {
    if (pos === n) {
      if (!sawImage) throw fail('it holds no image data');
      // Cut after a complete block: browsers show such a GIF, so the missing trailer is supplied.
      edits.push({ start: n, end: n, replacement: Uint8Array.of(0x3b), name: null });
      return edits;
    }
    const introducer = b[pos]!;
    if (introducer === 0x3b) {
      if (!sawImage) throw fail('it holds no image data');
      edits.push(...trailing(b, pos + 1));
      return edits;
    }
    if (introducer === 0x2c) {
      if (pos + 11 > n) throw fail('it ends in the middle of a block');
      // Descriptor (9 bytes), local colour table, LZW minimum code size, then the image data sub-blocks.
      pos = skipSubBlocks(pos + 10 + colourTableSize(b[pos + 9]!) + 1);
      sawImage = true;
      continue;
    }
    if (introducer !== 0x21) throw fail('it holds a block of unknown type');
    if (pos + 2 > n) throw fail('it ends in the middle of a block');
    const label = b[pos + 1]!;
    const end = skipSubBlocks(pos + 2);
    let name: string | null = null;
    if (label === 0xff) {
      const id = b[pos + 2] === 11 && pos + 14 <= n ? view(b).toString('latin1', pos + 3, pos + 14) : '';
      if (!GIF_KEEP_APPLICATIONS.has(id)) name = id === 'XMP DataXMP' ? 'XMP' : id === 'MGK8BIM0000' || id === 'MGKIPTC0000' ? 'IPTC' : 'application data';
    } else if (label === 0xfe) {
      name = 'comment';
    } else if (label === 0x01) {
      // Plain text extensions are ignored by browsers and libvips. The graphic control extension before one
      // is kept: those decoders apply it to the next image, and so they still will.
      name = 'text';
    } else if (label !== 0xf9) {
      name = `extension 0x${label.toString(16).padStart(2, '0')}`;
    }
    if (name) edits.push({ start: pos, end, name });
    pos = end;
  }
}
