import session from 'express-session';
import type { Db } from '../db/database.js';

type SessionData = session.SessionData & { passport?: { user?: number } };

const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * express-session store on the application's SQLite database (MemoryStore leaks and forgets on restart).
 * Expired rows are ignored on read and purged periodically.
 */
export class SqliteSessionStore extends session.Store {
  private readonly statements;
  private readonly purgeTimer: NodeJS.Timeout;

  constructor(db: Db, purgeEveryMs = 15 * 60 * 1000) {
    super();
    this.statements = {
      get: db.prepare<[string, number], { data: string }>('SELECT data FROM sessions WHERE sid = ? AND expires_at > ?'),
      set: db.prepare(
        `INSERT INTO sessions (sid, data, user_id, expires_at) VALUES (@sid, @data, @userId, @expiresAt)
         ON CONFLICT (sid) DO UPDATE SET data = excluded.data, user_id = excluded.user_id, expires_at = excluded.expires_at`,
      ),
      touch: db.prepare('UPDATE sessions SET expires_at = ? WHERE sid = ?'),
      destroy: db.prepare('DELETE FROM sessions WHERE sid = ?'),
      purge: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
    };
    this.purgeTimer = setInterval(() => this.purgeExpired(), purgeEveryMs).unref();
  }

  private expiry(sess: SessionData): number {
    const expires = sess.cookie?.expires;
    return expires ? new Date(expires).getTime() : Date.now() + DEFAULT_TTL_MS;
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    try {
      const row = this.statements.get.get(sid, Date.now());
      callback(null, row ? (JSON.parse(row.data) as SessionData) : null);
    } catch (err) {
      callback(err);
    }
  }

  override set(sid: string, sess: SessionData, callback?: (err?: unknown) => void): void {
    try {
      this.statements.set.run({ sid, data: JSON.stringify(sess), userId: sess.passport?.user ?? null, expiresAt: this.expiry(sess) });
      callback?.();
    } catch (err) {
      callback?.(err);
    }
  }

  override touch(sid: string, sess: SessionData, callback?: () => void): void {
    this.statements.touch.run(this.expiry(sess), sid);
    callback?.();
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    try {
      this.statements.destroy.run(sid);
      callback?.();
    } catch (err) {
      callback?.(err);
    }
  }

  purgeExpired(): number {
    return this.statements.purge.run(Date.now()).changes;
  }

  close(): void {
    clearInterval(this.purgeTimer);
  }
}
