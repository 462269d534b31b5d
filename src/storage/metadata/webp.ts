// WebP (RFC 9649)
import { startsWith, u32le, fourCC, trailing, MalformedImageError, type Edit } from './common.js';

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

export function planWebp(b: Uint8Array): Edit[] {
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
