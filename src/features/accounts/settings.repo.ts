import type { Db } from '../../db/database.js';

/** Settings an administrator changes at run time (table `settings`); a missing key means the environment's default. */
export function createSettingsRepo(db: Db) {
  const get = db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck();
  const set = db.prepare<[string, string]>('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  return {
    get: (key: string): string | null => get.get(key) ?? null,
    set: (key: string, value: string) => void set.run(key, value),
  };
}
