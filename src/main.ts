/**
 * The process: read configuration, start, stop cleanly on SIGTERM/SIGINT. A configuration mistake
 * prints one line and exits 1 — never a stack trace.
 */
import { ConfigError, loadConfig } from './config/load.js';
import { KeyLoadError } from './keys/signing-key.js';
import { RelyingPartyConfigError } from './relying-parties/registry.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';
import { ProxyConfigError } from './web/app.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`openfed: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.log.level);
  let running;
  try {
    running = await startServer(config, logger);
  } catch (err) {
    if (err instanceof KeyLoadError || err instanceof ProxyConfigError || err instanceof RelyingPartyConfigError || (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`openfed: ${(err as Error).message}\n`);
      process.exit(1);
    }
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main();
