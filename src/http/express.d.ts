import 'express-serve-static-core';

declare global {
  namespace Express {
    /** What passport (sessions) and the bearer-token middleware (API) put on req.user. */
    interface User {
      id: number;
      username: string;
      role: 'user' | 'admin';
      /** The password is a temporary one set by an administrator (pages ask for a new one first). */
      mustChangePassword?: boolean;
    }
    interface Request {
      /** Per-request id, sent back as X-Request-Id and shown on error pages for support. */
      id: string;
      startedAt: bigint;
      /** Security events noted while handling the request, written with its request log row (security-events.ts). */
      securityEvents?: import('./security-events.js').SecurityEvent[];
    }
  }
}
