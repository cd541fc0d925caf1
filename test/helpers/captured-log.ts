/**
 * A real pino logger (src/log.ts) whose lines land in an array, parsed: for tests that count what an
 * outage or a request writes, level by level.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** pino's numeric levels, for comparing a line's `level`. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function capturedLogger(level: 'debug' | 'info'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger(
    level,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
        done();
      },
    }),
  );
  return { logger, lines };
}
