import { Router } from 'express';
import type { Db } from '../../db/database.js';

export interface ModelsStatus {
  versions(): Record<string, string>;
}

/** Liveness and readiness for process managers and load balancers; no session, no login. */
export function createHealthRouter({ db, models }: { db: Db; models: ModelsStatus | null }): Router {
  const router = Router();
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
