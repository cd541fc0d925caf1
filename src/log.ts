import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line, whatever object a caller hands pino: passwords, cookies,
 * protocol messages that carry tokens.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'bindPassword',
  '*.bindPassword',
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  'req.body',
  'SAMLRequest',
  'SAMLResponse',
  'wresult',
  '*.SAMLResponse',
  '*.wresult',
];

/**
 * The request being served, carried along every async step of it. Components such as the directory
 * or the lockout guard log through loggers made at start-up; through this store their lines still
 * name the request they were written for, without handing a logger down every call.
 */
export const requestContext = new AsyncLocalStorage<{ reqId: string }>();

function requestIdMixin(): { reqId?: string } {
  const store = requestContext.getStore();
  return store ? { reqId: store.reqId } : {};
}

export function createLogger(level: string, destination?: DestinationStream, bindings: Record<string, unknown> = {}): Logger {
  const options: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: requestIdMixin,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** For tests and tools that want no output. */
export const silentLogger: Logger = pino({ level: 'silent' });
