import type { Db } from '../../db/database.js';

/** "Let my corrected digits improve the shared model" (users.share_digit_corrections, off by default; migrations/011). */
export function createSharingRepo(db: Db) {
  const get = db.prepare<[number], number>('SELECT share_digit_corrections FROM users WHERE id = ?').pluck();
  const set = db.prepare<[0 | 1, number]>('UPDATE users SET share_digit_corrections = ? WHERE id = ?');
  const all = db.prepare<[], number>('SELECT id FROM users WHERE share_digit_corrections = 1 ORDER BY id').pluck();
  return {
    sharesDigitCorrections: (userId: number): boolean => get.get(userId) === 1,
    setShareDigitCorrections: (userId: number, on: boolean) => void set.run(on ? 1 : 0, userId),
    /** The accounts whose corrected digits may be used to retrain the shared digit model. */
    usersSharingDigitCorrections: (): number[] => all.all(),
  };
}
