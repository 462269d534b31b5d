/** What the per-format walkers share: the error, the edit they plan, and byte readers. */

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
export interface Edit {
  start: number;
  end: number;
  replacement?: Uint8Array;
  name: string | null;
}

export const startsWith = (bytes: Uint8Array, at: number, ascii: string) => {
  if (at + ascii.length > bytes.length) return false;
  for (let i = 0; i < ascii.length; i++) if (bytes[at + i] !== ascii.charCodeAt(i)) return false;
  return true;
};
export const u16be = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
export const u32be = (b: Uint8Array, at: number) => b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
export const u32le = (b: Uint8Array, at: number) => b[at + 3]! * 0x1000000 + ((b[at + 2]! << 16) | (b[at + 1]! << 8) | b[at]!);
export const fourCC = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
export const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
export const trailing = (bytes: Uint8Array, end: number): Edit[] => (end < bytes.length ? [{ start: end, end: bytes.length, name: 'trailing data' }] : []);
