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

-- Indexes measured on a generated log of a million rows (src/features/admin/stats.repo.ts): counting index
-- ranges one (route, method, status) or (user, status) at a time is several times cheaper than reading rows.
-- The request list, newest first.
CREATE INDEX request_log_at ON request_log (at);
-- Requests per status and time bucket (the chart and totals).
CREATE INDEX request_log_status_at ON request_log (status, at);
-- Per route and status: counts, and the latency sample (duration_ms is read from the index, not the row).
CREATE INDEX request_log_route_status_at ON request_log (route, method, status, at, duration_ms);
-- Per user and status: counts, errors and the last request.
CREATE INDEX request_log_user_status_at ON request_log (user_id, status, at);

-- Every (method, route, status) ever logged: a few rows for the statistics to walk, so that they never scan
-- the log to find them. Rows outlive the pruned log rows (one with no rows in a window counts nothing).
CREATE TABLE request_log_keys (
  route TEXT NOT NULL,
  method TEXT NOT NULL,
  status INTEGER NOT NULL,
  PRIMARY KEY (route, method, status)
) WITHOUT ROWID;
