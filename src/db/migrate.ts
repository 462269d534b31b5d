import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { migrationsDir } from '../paths.js';
import { openDatabase, type Db } from './database.js';

const migrationFile = /^(\d{3})_[a-z0-9_]+\.sql$/;

/**
 * Applies the numbered migrations/NNN_name.sql files that this database has not seen yet, each in its own
 * transaction, in order. Returns the names applied.
 */
export function migrate(db: Db, dir: string): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  )`);
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const files = readdirSync(dir)
    .filter((name) => migrationFile.test(name))
    .sort();
  const done: string[] = [];
  for (const name of files) {
    const version = Number(name.slice(0, 3));
    if (applied.has(version)) continue;
    const sql = readFileSync(path.join(dir, name), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)').run(version, name);
    })();
    done.push(name);
  }
  return done;
}

/** The application database, ready to use: opened with its pragmas and migrated to the latest schema. */
export function openMigratedDatabase(file: string): { db: Db; applied: string[] } {
  const db = openDatabase(file);
  return { db, applied: migrate(db, migrationsDir) };
}
