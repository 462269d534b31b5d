CREATE TABLE request_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,            -- epoch milliseconds when the request arrived
  user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,            -- the route pattern (/signers/:id), never the raw URL
  status INTEGER NOT NULL,        -- the status actually sent
  duration_ms REAL NOT NULL,
  bytes INTEGER NOT NULL,         -- response body bytes sent
  request_id TEXT NOT NULL
);
CREATE INDEX request_log_at ON request_log (at);
CREATE INDEX request_log_user_at ON request_log (user_id, at);
CREATE INDEX request_log_route_at ON request_log (route, at);
