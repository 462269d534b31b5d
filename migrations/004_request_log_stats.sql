-- Indexes that let the admin statistics read only the rows of the chosen window, without sorting
-- (measured with a generated log; see src/features/admin/stats.repo.ts). Each covers the columns its
-- queries read, so that no table row is visited. They replace the narrower ones of 003.
DROP INDEX request_log_at;
DROP INDEX request_log_user_at;
DROP INDEX request_log_route_at;
CREATE INDEX request_log_at_status ON request_log (at, status);
CREATE INDEX request_log_user_at_status ON request_log (user_id, at, status);
CREATE INDEX request_log_route_at_status ON request_log (method, route, at, status, duration_ms);

-- Every method and route pattern ever logged: a handful of rows, so that the statistics can walk the routes
-- without scanning the log for them. Kept after the log rows are pruned (a route with no rows shows nothing).
CREATE TABLE request_log_routes (
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  PRIMARY KEY (method, route)
) WITHOUT ROWID;
INSERT OR IGNORE INTO request_log_routes (method, route) SELECT DISTINCT method, route FROM request_log;
