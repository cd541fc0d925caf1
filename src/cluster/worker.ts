/**
 * A cluster worker: the whole server (startServer) on the port it shares with its siblings, minus
 * the management listener, which the primary serves from what the workers report over IPC.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { startServer, type RunningServer } from '../server.js';
import { readiness } from '../web/handlers/health.js';
import { isPrimaryMessage, type WorkerMessage } from './messages.js';
import { startupErrorLine } from './startup.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    // A failed send means the primary is gone; node ends an orphaned worker by itself.
    process.send(message, undefined, {}, () => resolve());
  });
}

export async function runWorker(config: Config, logger: Logger): Promise<void> {
  let running: RunningServer;
  try {
    running = await startServer(config, logger, { management: false });
  } catch (err) {
    const line = startupErrorLine(err);
    if (line === undefined) logger.fatal({ err }, 'start-up failed');
    // The primary prints the line once for the whole farm and decides whether to go on.
    await send({ type: 'openfed:start-failed', line: line ?? 'start-up failed (see the log)' });
    process.exit(1);
  }

  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      logger.info({ reason }, 'worker stopping');
      try {
        await running.close();
        process.exit(0);
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    })();
  };

  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    switch (message.type) {
      case 'openfed:shutdown':
        return stop('asked by the primary');
      case 'openfed:metrics':
        void running.metrics.registry.getMetricsAsJSON().then(
          (metrics) => send({ type: 'openfed:metrics', id: message.id, metrics }),
          (err: unknown) => logger.warn({ err }, 'could not collect metrics for the primary'),
        );
        return;
      case 'openfed:readiness':
        void readiness(running.deps).then((report) => send({ type: 'openfed:readiness', id: message.id, report }));
        return;
    }
  });
  // A terminal's Ctrl+C reaches every process of the group: the primary alone decides, and tells us.
  process.on('SIGINT', () => undefined);
  // Someone signalling this worker alone (an operator, a supervisor): finish and exit; the primary
  // starts a fresh one.
  process.on('SIGTERM', () => stop('SIGTERM'));

  await send({ type: 'openfed:listening', url: running.url });
}
