/**
 * Lossless metadata removal for the stored image types. Each container is walked by its structure (JPEG
 * marker segments, PNG chunks, RIFF chunks, GIF blocks) and the parts that carry metadata are cut out; the
 * parts that make the picture are kept byte for byte, so nothing is decoded or re-compressed. EXIF goes with
 * everything else, orientation included: the caller applies a non-default orientation before stripping.
 */
import { MalformedImageError, type ContainerType, type Edit } from './common.js';
import { planGif } from './gif.js';
import { planJpeg } from './jpeg.js';
import { planPng } from './png.js';
import { planWebp } from './webp.js';

export { MalformedImageError, type ContainerType };

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
