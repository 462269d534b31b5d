import type { Db } from '../../db/database.js';

export type SignatureSource = 'upload' | 'drawing' | 'camera' | 'library' | 'api';

export interface SignatureReference {
  id: number;
  signerId: number;
  userId: number;
  storedImageId: number;
  source: SignatureSource;
  embedding: Float32Array;
  modelVersion: string;
  createdAt: string;
  width: number;
  height: number;
}

export type NewReference = Omit<SignatureReference, 'id' | 'createdAt' | 'width' | 'height'> & { inkMap: Buffer };

interface Row extends Omit<SignatureReference, 'embedding'> {
  embedding: Buffer;
}

/** Float32 values as stored in a BLOB (the platform's byte order, little-endian on every target of this app). */
export const embeddingBytes = (embedding: Float32Array) => Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength);
// Copied: a BLOB's Buffer may not be 4-byte aligned, which a Float32Array view needs.
export const embeddingFrom = (bytes: Buffer) => new Float32Array(Uint8Array.from(bytes).buffer);

const select = `SELECT r.id, r.signer_id AS signerId, r.user_id AS userId, r.stored_image_id AS storedImageId, r.source, r.embedding,
  r.model_version AS modelVersion, r.created_at AS createdAt, s.width, s.height
  FROM signature_references r JOIN stored_images s ON s.id = r.stored_image_id`;

const toReference = ({ embedding, ...row }: Row): SignatureReference => ({ ...row, embedding: embeddingFrom(embedding) });

export function createReferencesRepo(db: Db) {
  const statements = {
    insert: db.prepare(`INSERT INTO signature_references (signer_id, user_id, stored_image_id, source, embedding, model_version, ink_map)
      VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
    ofSigner: db.prepare(`${select} WHERE r.user_id = ? AND r.signer_id = ? ORDER BY r.id`),
    findById: db.prepare(`${select} WHERE r.user_id = ? AND r.signer_id = ? AND r.id = ?`),
    count: db.prepare('SELECT COUNT(*) FROM signature_references WHERE user_id = ? AND signer_id = ?').pluck(),
    inkMap: db.prepare('SELECT ink_map FROM signature_references WHERE user_id = ? AND signer_id = ? AND id = ?').pluck(),
    storedImageIds: db.prepare('SELECT stored_image_id FROM signature_references WHERE user_id = ? AND signer_id = ?').pluck(),
    updateEmbedding: db.prepare('UPDATE signature_references SET embedding = ?, model_version = ?, ink_map = ? WHERE id = ? AND model_version = ?'),
    remove: db.prepare('DELETE FROM signature_references WHERE user_id = ? AND signer_id = ? AND id = ?'),
  };

  return {
    insert(reference: NewReference): number {
      const { signerId, userId, storedImageId, source, embedding, modelVersion, inkMap } = reference;
      return (statements.insert.get(signerId, userId, storedImageId, source, embeddingBytes(embedding), modelVersion, inkMap) as { id: number }).id;
    },
    /** Oldest first. */
    ofSigner: (userId: number, signerId: number) => (statements.ofSigner.all(userId, signerId) as Row[]).map(toReference),
    findById(userId: number, signerId: number, id: number): SignatureReference | undefined {
      const row = statements.findById.get(userId, signerId, id) as Row | undefined;
      return row && toReference(row);
    },
    count: (userId: number, signerId: number) => statements.count.get(userId, signerId) as number,
    inkMap: (userId: number, signerId: number, id: number) => statements.inkMap.get(userId, signerId, id) as Buffer | undefined,
    storedImageIds: (userId: number, signerId: number) => statements.storedImageIds.all(userId, signerId) as number[],
    /** Replaces an embedding made by `fromVersion`; a no-op if another request has recomputed it meanwhile. */
    updateEmbedding(id: number, fromVersion: string, embedding: Float32Array, modelVersion: string, inkMap: Buffer): void {
      statements.updateEmbedding.run(embeddingBytes(embedding), modelVersion, inkMap, id, fromVersion);
    },
    remove(userId: number, signerId: number, id: number): void {
      statements.remove.run(userId, signerId, id);
    },
  };
}

export type ReferencesRepo = ReturnType<typeof createReferencesRepo>;
