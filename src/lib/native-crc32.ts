/**
 * archiver's zip engine (compress-commons and crc32-stream) computes every entry's CRC-32 with the crc-32 package,
 * in JavaScript: 0.6-0.8 GB/s on the 2-core dev box, the largest single cost of a dataset export (1 GB of images
 * spent about as long in it as in everything else together). Node's zlib.crc32 is native (~5 GB/s there) and
 * computes the same checksum, so the package's `buf` is pointed at it once, for every zip this process writes.
 * Both take the previous value as the seed; crc-32 answers a signed 32-bit number, hence `| 0`. On a Node without
 * zlib.crc32 (before 20.15) nothing changes; if archiver stops using crc-32, the assignment simply no longer matters.
 */
import crc32 from 'crc-32';
import * as zlib from 'node:zlib';

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
if (typeof native === 'function') {
  (crc32 as { buf: typeof crc32.buf }).buf = (data, seed = 0) => native(data instanceof Uint8Array ? data : Uint8Array.from(data), seed >>> 0) | 0;
}
