// PNG (PNG third edition; APNG)
import { u32be, fourCC, view, trailing, MalformedImageError, type Edit } from './common.js';

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

export function planPng(b: Uint8Array): Edit[] {
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
