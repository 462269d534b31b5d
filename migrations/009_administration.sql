-- Self-hosting and administration (src/features/accounts, src/features/admin, src/http/request-log.ts).

-- A temporary password set by an administrator: the user must choose their own at the next sign-in.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));

-- The ids of deleted accounts. Log rows and security events keep a deleted user's id ("deleted user #12"), so an
-- id must never be given to a new account: users.repo.ts allocates max(users, deleted_users) + 1 (users.id is a
-- plain rowid, which SQLite would otherwise reuse after deleting the highest one).
CREATE TABLE deleted_users (
  id INTEGER PRIMARY KEY,
  deleted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TRIGGER users_remember_deleted AFTER DELETE ON users
BEGIN
  INSERT OR IGNORE INTO deleted_users (id) VALUES (OLD.id);
END;

-- Settings an administrator changes at run time (the registration policy); a missing key means the environment's default.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Single-use invitation links. Only the sha256 of the token is kept: the link is shown once, when it is made.
CREATE TABLE invites (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token_sha256 TEXT NOT NULL UNIQUE,
  note TEXT NOT NULL DEFAULT '',
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,   -- epoch ms
  expires_at INTEGER NOT NULL,   -- epoch ms
  used_at INTEGER,
  used_by INTEGER REFERENCES users (id) ON DELETE SET NULL
);

-- Single-use password reset links made by an administrator (there is no e-mail): sha256 of the token only.
CREATE TABLE password_resets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token_sha256 TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX password_resets_user_id ON password_resets (user_id);

-- The request log again, with the client address, without the foreign key (a deleted user's rows keep their id
-- instead of becoming "signed out"), and findable by request id. Rows move across unchanged.
CREATE TABLE request_log_new (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,            -- epoch milliseconds when the request arrived
  user_id INTEGER,                -- users.id, kept after the account is deleted (see deleted_users)
  method TEXT NOT NULL,
  route TEXT NOT NULL,            -- the route pattern (/signers/:id), never the raw URL
  status INTEGER NOT NULL,        -- the status actually sent
  duration_ms REAL NOT NULL,
  bytes INTEGER NOT NULL,         -- response body bytes sent
  request_id TEXT NOT NULL,
  client_ip TEXT                  -- req.ip: the proxy's X-Forwarded-For only when TRUST_PROXY trusts it
);
INSERT INTO request_log_new (id, at, user_id, method, route, status, duration_ms, bytes, request_id)
  SELECT id, at, user_id, method, route, status, duration_ms, bytes, request_id FROM request_log;
DROP TABLE request_log;
ALTER TABLE request_log_new RENAME TO request_log;
-- The indexes of migrations/003, unchanged, and one to find a request by the id an error page showed.
CREATE INDEX request_log_at ON request_log (at);
CREATE INDEX request_log_status_at ON request_log (status, at);
CREATE INDEX request_log_route_status_at ON request_log (route, method, status, at, duration_ms);
CREATE INDEX request_log_user_status_at ON request_log (user_id, status, at);
CREATE INDEX request_log_request_id ON request_log (request_id);

-- Security events: failed sign-ins, lockouts and rate limits, CSRF failures, refused uploads and administrators'
-- actions. Written in the request log's batches; user ids are kept after deletion like the request log's.
CREATE TABLE security_events (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,            -- epoch ms
  kind TEXT NOT NULL CHECK (kind IN ('login_failed', 'login_locked', 'rate_limited', 'csrf_failed', 'upload_refused', 'admin_action')),
  user_id INTEGER,                -- who was signed in (the administrator, for admin actions)
  username TEXT,                  -- the username tried (failed sign-ins, lockouts), as typed
  target_user_id INTEGER,         -- whom an admin action was about
  target_username TEXT,           -- their name at the time (the account may be deleted since)
  action TEXT,                    -- admin actions: user.create, user.delete, invite.create, ...
  detail TEXT NOT NULL DEFAULT '',
  client_ip TEXT,
  request_id TEXT                 -- null for the command line
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_kind_at ON security_events (kind, at);
CREATE INDEX security_events_request_id ON security_events (request_id);
