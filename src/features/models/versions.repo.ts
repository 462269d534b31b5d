import type { Db } from '../../db/database.js';

export type ModelName = 'digits' | 'signatures';
export type VersionSource = 'shipped' | 'trained' | 'uploaded';

export interface ModelVersion {
  id: number;
  model: ModelName;
  version: string;
  sha256: string;
  bytes: number;
  /** The model card as recorded (plain JSON). */
  card: Record<string, unknown>;
  source: VersionSource;
  createdAt: string;
  createdBy: number | null;
  createdByName: string | null;
}

export interface ActiveChoice {
  model: ModelName;
  version: string;
  previousVersion: string | null;
  activatedAt: string;
  activatedBy: number | null;
  lastError: string | null;
}

interface VersionRow extends Omit<ModelVersion, 'card'> {
  card: string;
}

const VERSION_COLUMNS = `v.id, v.model, v.version, v.sha256, v.bytes, v.card, v.source, v.created_at AS createdAt, v.created_by AS createdBy,
  u.username AS createdByName`;

const toVersion = (row: VersionRow): ModelVersion => ({ ...row, card: JSON.parse(row.card) as Record<string, unknown> });

/** The model_versions and active_models tables (migrations/010_model_versions.sql). */
export function createVersionsRepo(db: Db) {
  const statements = {
    all: db.prepare(`SELECT ${VERSION_COLUMNS} FROM model_versions v LEFT JOIN users u ON u.id = v.created_by WHERE v.model = ? ORDER BY v.created_at DESC, v.id DESC`),
    one: db.prepare(`SELECT ${VERSION_COLUMNS} FROM model_versions v LEFT JOIN users u ON u.id = v.created_by WHERE v.model = ? AND v.version = ?`),
    shipped: db.prepare(`SELECT ${VERSION_COLUMNS} FROM model_versions v LEFT JOIN users u ON u.id = v.created_by WHERE v.model = ? AND v.source = 'shipped'`),
    insert: db.prepare(`INSERT INTO model_versions (model, version, sha256, bytes, card, source, created_by) VALUES (@model, @version, @sha256, @bytes, @card, @source, @createdBy)`),
    updateShipped: db.prepare(`UPDATE model_versions SET sha256 = @sha256, bytes = @bytes, card = @card WHERE model = @model AND version = @version AND source = 'shipped'`),
    remove: db.prepare('DELETE FROM model_versions WHERE model = ? AND version = ?'),
    active: db.prepare(`SELECT model, version, previous_version AS previousVersion, activated_at AS activatedAt, activated_by AS activatedBy, last_error AS lastError
      FROM active_models WHERE model = ?`),
    setActive: db.prepare(`INSERT INTO active_models (model, version, previous_version, activated_at, activated_by, last_error)
      VALUES (@model, @version, @previousVersion, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), @activatedBy, NULL)
      ON CONFLICT (model) DO UPDATE SET version = excluded.version, previous_version = excluded.previous_version,
        activated_at = excluded.activated_at, activated_by = excluded.activated_by, last_error = NULL`),
    setError: db.prepare('UPDATE active_models SET last_error = ? WHERE model = ?'),
    insertError: db.prepare(`INSERT OR IGNORE INTO active_models (model, version, last_error) VALUES (?, ?, ?)`),
    forgetPrevious: db.prepare('UPDATE active_models SET previous_version = NULL WHERE model = ? AND previous_version = ?'),
    clearActive: db.prepare('DELETE FROM active_models WHERE model = ?'),
  };

  return {
    list: (model: ModelName): ModelVersion[] => (statements.all.all(model) as VersionRow[]).map(toVersion),
    find(model: ModelName, version: string): ModelVersion | null {
      const row = statements.one.get(model, version) as VersionRow | undefined;
      return row ? toVersion(row) : null;
    },
    shipped: (model: ModelName): ModelVersion[] => (statements.shipped.all(model) as VersionRow[]).map(toVersion),
    insert(version: Omit<ModelVersion, 'id' | 'createdAt' | 'createdByName'>): void {
      statements.insert.run({ ...version, card: JSON.stringify(version.card) });
    },
    updateShipped(version: Pick<ModelVersion, 'model' | 'version' | 'sha256' | 'bytes' | 'card'>): void {
      statements.updateShipped.run({ ...version, card: JSON.stringify(version.card) });
    },
    remove(model: ModelName, version: string): void {
      db.transaction(() => {
        statements.remove.run(model, version);
        statements.forgetPrevious.run(model, version);
      })();
    },
    active: (model: ModelName): ActiveChoice | null => (statements.active.get(model) as ActiveChoice | undefined) ?? null,
    setActive(choice: { model: ModelName; version: string; previousVersion: string | null; activatedBy: number | null }): void {
      statements.setActive.run(choice);
    },
    /** Records why the last activation failed (shown on the admin page until the next activation succeeds). */
    setError(model: ModelName, activeVersion: string, message: string): void {
      statements.insertError.run(model, activeVersion, message);
      statements.setError.run(message, model);
    },
    clearActive: (model: ModelName) => void statements.clearActive.run(model),
  };
}

export type VersionsRepo = ReturnType<typeof createVersionsRepo>;
