import { Router } from 'express';
import type { Db } from '../../db/database.js';

export interface ModelsStatus {
  versions(): Record<string, string>;
}

/** Answers to the health checks since the process started, per path (shown apart from the statistics). */
export interface ProbeCount {
  path: string;
  ok: number;
  failed: number;
  /** Epoch ms of the last answer of 400 or more, or null. */
  lastFailureAt: number | null;
}

export type ProbeCounter = ReturnType<typeof createProbeCounter>;

/**
 * Monitors call /health and /ready every few seconds: they would swamp the request log and its statistics,
 * so they are counted here instead, in memory, and the statistics page shows the counts apart. A failure
 * of ours (500) is still in the server log with its request id.
 */
export function createProbeCounter(now = Date.now) {
  const counts = new Map<string, ProbeCount>();
  return {
    record(path: string, status: number): void {
      const count = counts.get(path) ?? { path, ok: 0, failed: 0, lastFailureAt: null };
      if (status < 400) count.ok++;
      else {
        count.failed++;
        count.lastFailureAt = now();
      }
      counts.set(path, count);
    },
    counts: (): ProbeCount[] => [...counts.values()].sort((a, b) => a.path.localeCompare(b.path)),
  };
}

/** Liveness and readiness for process managers and load balancers; no session, no login, not in the request log. */
export function createHealthRouter({ db, models, probes }: { db: Db; models: ModelsStatus | null; probes?: ProbeCounter }): Router {
  const router = Router();
  if (probes) {
    router.use(['/health', '/ready'], (req, res, next) => {
      res.once('finish', () => probes.record(req.originalUrl.split('?')[0]!, res.statusCode));
      next();
    });
  }
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', (_req, res) => {
    const checks: Record<string, unknown> = {};
    let ready = true;
    try {
      db.prepare('SELECT 1').get();
      checks.database = 'ok';
    } catch {
      checks.database = 'unreachable';
      ready = false;
    }
    if (models) checks.models = models.versions();
    else {
      checks.models = 'not loaded';
      ready = false;
    }
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });
  return router;
}
