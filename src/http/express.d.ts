import 'express-serve-static-core';

declare global {
  namespace Express {
    /** What passport (sessions) and the bearer-token middleware (API) put on req.user. */
    interface User {
      id: number;
      username: string;
      role: 'user' | 'admin';
    }
    interface Request {
      /** Per-request id, sent back as X-Request-Id and shown on error pages for support. */
      id: string;
      startedAt: bigint;
    }
  }
}
