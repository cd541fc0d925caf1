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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** For tests and tools that want no output. */
export const silentLogger: Logger = pino({ level: 'silent' });
