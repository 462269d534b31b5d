CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  last_login_at TEXT,
  -- Epoch seconds of the last password change: API tokens issued before it are refused.
  password_changed_at INTEGER NOT NULL DEFAULT 0
);
-- Usernames are unique ignoring case: "Alice" cannot register once "alice" exists.
CREATE UNIQUE INDEX users_username_nocase ON users (username COLLATE NOCASE);
