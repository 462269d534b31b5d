import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import crc32 from 'crc-32';
import '../../src/lib/native-crc32.js';

describe('the CRC-32 that archiver uses', () => {
  it('when a buffer is checksummed, then the value is the standard CRC-32 (signed, as the crc-32 package answers)', () => {
    assert.equal(crc32.buf(Buffer.from('123456789')) >>> 0, 0xcbf43926);
    assert.equal(crc32.buf(Buffer.alloc(0)), 0);
    assert.equal(crc32.buf([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]) >>> 0, 0xcbf43926, 'a plain array of bytes too');
  });

  it('when data comes in chunks seeded with the previous value (as crc32-stream does), then the result equals the whole at once', () => {
    const data = randomBytes(300_000);
    let running = 0;
    for (let offset = 0; offset < data.length; offset += 65_536) running = crc32.buf(data.subarray(offset, offset + 65_536), running) >>> 0;
    assert.equal(running, crc32.buf(data) >>> 0);
  });
});
