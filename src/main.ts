/**
 * The process: read configuration, then serve — on every core as a Node cluster (server.workers),
 * or as one process — and stop cleanly on SIGTERM/SIGINT. A configuration mistake prints one line
 * and exits 1, before any worker is forked — never a stack trace.
 */
import cluster from 'node:cluster';
import { ClusterPrimary } from './cluster/primary.js';
import { prepareSharedState, startupErrorLine, workerCount } from './cluster/startup.js';
import { runWorker } from './cluster/worker.js';
import { ConfigError, dataDirOverrideWarning, loadConfigWithOrigins, type DataDirOrigin } from './config/load.js';
import type { Config } from './config/schema.js';
import { ActiveDirectory } from './directory/active-directory.js';
import { warnIfDomainLocksFirst } from './lockout/domain-policy.js';
import { createLogger, silentLogger, type Logger } from './log.js';
import { startServer } from './server.js';

function fail(line: string): never {
  process.stderr.write(`openfed: ${line}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: Config;
  let dataDirOrigin: DataDirOrigin;
  try {
    ({ config, dataDir: dataDirOrigin } = loadConfigWithOrigins());
  } catch (err) {
    if (err instanceof ConfigError) {
      // A worker reads the same files as its primary did; if they changed in between, the primary reports it.
      if (cluster.isWorker) process.exit(1);
      fail(err.message);
    }
    throw err;
  }

  if (cluster.isWorker) {
    return runWorker(config, createLogger(config.log.level, undefined, { worker: cluster.worker?.id }));
  }
  let workers: number;
  try {
    workers = workerCount(config);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const logger = createLogger(config.log.level);
  const dataDirWarning = dataDirOverrideWarning(config.dataDir, dataDirOrigin);
  if (dataDirWarning) logger.warn({ dataDir: config.dataDir, fileDataDir: dataDirOrigin.overriddenFileValue }, dataDirWarning);
  if (workers > 1) return runFarm(config, logger, workers);
  return runSingle(config, logger);
}

/**
 * With lockout.mode enforce against AD: one warning when the domain's own lockoutThreshold can lock an
 * account before extranet lockout refuses (lockout/domain-policy.ts). Once serving, and without waiting
 * for the answer; the primary (or the single process) alone asks, so a farm warns once.
 */
function checkDomainLockout(config: Config, logger: Logger): void {
  const ldap = config.directory.ldap;
  if (!ldap || config.lockout.mode !== 'enforce') return;
  void warnIfDomainLocksFirst(
    config.lockout,
    async () => {
      const ad = new ActiveDirectory(ldap, silentLogger, { maxConcurrentBinds: 1 });
      try {
        return await ad.domainLockoutThreshold();
      } finally {
        await ad.close().catch(() => undefined);
      }
    },
    logger,
  );
}

async function runFarm(config: Config, logger: Logger, workers: number): Promise<void> {
  try {
    await prepareSharedState(config, logger);
  } catch (err) {
    const line = startupErrorLine(err);
    if (line !== undefined) fail(line);
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  const primary = new ClusterPrimary(config, logger, { workers });
  const onSignal = (signal: string) => void primary.stop(signal);
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await primary.start();
  } catch (err) {
    // The management listener could not listen (port in use...): no worker is running yet.
    const line = startupErrorLine(err);
    if (line !== undefined) fail(line);
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  checkDomainLockout(config, logger);
  process.exit(await primary.finished);
}

async function runSingle(config: Config, logger: Logger): Promise<void> {
  let running;
  try {
    running = await startServer(config, logger);
  } catch (err) {
    const line = startupErrorLine(err);
    if (line !== undefined) fail(line);
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  checkDomainLockout(config, logger);
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
