/**
 * What happens once per start, before any worker exists: state in the data directory that several
 * processes must not race to create, and the one-line explanation of a start-up failure.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../clock.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createDirectory } from '../directory/index.js';
import { openKeyRing } from '../keys/key-manager.js';
import { KeyLoadError } from '../keys/signing-key.js';
import type { Logger } from '../log.js';
import { RelyingPartyConfigError } from '../relying-parties/registry.js';
import { loadOrCreateSecret } from '../server.js';
import { ProxyConfigError } from '../web/app.js';

/**
 * server.workers as a number: "auto" is one per core the process may use. Workers share sessions,
 * replay caches and lockout counters only through Redis; kept in memory they would be per worker, and
 * a user signed in at one worker would be a stranger to the next. So without Redis "auto" means one
 * process, and an explicit number above 1 is a configuration error.
 */
export function workerCount(config: Pick<Config, 'server' | 'sessions'>): number {
  const setting = config.server.workers;
  if (config.sessions.redis) return setting === 'auto' ? availableParallelism() : setting;
  if (setting === 'auto' || setting === 1) return 1;
  throw new ConfigError(
    `configuration key server.workers: ${setting} workers need sessions.redis (sessions in memory are not shared between processes); set it, or workers: 1`,
  );
}

/**
 * Creates, once, what every worker then only reads: the data directory, the token-signing key set
 * (generated on first start; a configured key is checked here, so a wrong file or password stops the
 * start before any fork), the CSRF secret file and the demo users file. Everything opened is closed
 * again: the workers open their own connections.
 */
export async function prepareSharedState(config: Config, logger: Logger): Promise<void> {
  mkdirSync(config.dataDir, { recursive: true });
  const keys = await openKeyRing(config, logger, systemClock);
  await keys.close();
  if (config.web.csrfSecret === undefined) loadOrCreateSecret(join(config.dataDir, 'csrf-secret'));
  const directory = await createDirectory(config, logger);
  await directory.close();
}

/**
 * The operator's one line for a failure they can fix (configuration, key file, port in use), or
 * undefined for anything else, which deserves the full error in the log.
 */
export function startupErrorLine(err: unknown): string | undefined {
  if (
    err instanceof ConfigError ||
    err instanceof KeyLoadError ||
    err instanceof ProxyConfigError ||
    err instanceof RelyingPartyConfigError ||
    (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' ||
    (err as NodeJS.ErrnoException | undefined)?.code === 'EACCES'
  ) {
    return (err as Error).message;
  }
  return undefined;
}
