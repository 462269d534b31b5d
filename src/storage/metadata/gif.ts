// GIF (GIF89a specification)
import { startsWith, view, trailing, MalformedImageError, type Edit } from './common.js';

/** Application extensions (identifier + authentication code) that change how the picture is shown. */
const GIF_KEEP_APPLICATIONS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0', 'ICCRGBG1012']);
const colourTableSize = (packed: number) => (packed & 0x80 ? 3 << ((packed & 0x07) + 1) : 0);

export function planGif(b: Uint8Array): Edit[] {
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
