// JPEG (ITU T.81 annex B; JFIF 1.02; Exif 2.32 section 4.5; CIPA DC-007 for MPF)
import { startsWith, u16be, view, trailing, MalformedImageError, type Edit } from './common.js';

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

export function planJpeg(b: Uint8Array): Edit[] {
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
