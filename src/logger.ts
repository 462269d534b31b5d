import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; one logger for the process, children per request. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { app: 'inkwell' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'req.headers.cookie', 'req.headers.authorization'], remove: true },
  });
}
