/**
 * Builds every part from a Config and serves it: the one place that wires directory, sessions, keys
 * and web together. main.ts calls it for the real process; tests call it to get a live server.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Server as NetServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createAuditLog, createBufferedFileAuditLog, type AuditLog } from './audit/audit.js';
import { systemClock, type Clock } from './clock.js';
import { corporateNetwork, microsoft365IssuerFor } from './claims/microsoft365.js';
import { federationIdentifier, type Config } from './config/schema.js';
import { createDirectory } from './directory/index.js';
import { LockoutGuard } from './lockout/guard.js';
import { MemoryLockoutStore } from './lockout/memory-store.js';
import { RedisLockoutStore } from './lockout/redis-store.js';
import type { Directory } from './directory/types.js';
import { openKeyRing } from './keys/key-manager.js';
import type { Logger } from './log.js';
import { MetadataCache } from './metadata/cache.js';
import { SamlIdp } from './protocols/saml2/idp.js';
import { WsfedIdp } from './protocols/wsfed/idp.js';
import { RelyingPartyRegistry } from './relying-parties/registry.js';
import { openRelyingPartyStore } from './relying-parties/store.js';
import { openRedis } from './redis/connection.js';
import { ROUTES } from './web/route-paths.js';
import { createSessionStores } from './sessions/index.js';
import { createPublicListener } from './web/app.js';
import { listen, listenUrl } from './web/listen.js';
import { createManagementApp } from './web/management.js';
import { DependencyMetrics, Metrics } from './metrics/metrics.js';
import type { AppDeps, IntegratedAuth } from './web/context.js';
import { integratedAuthOffer, WindowsSignIns } from './authn/kerberos.js';
import { loadKerberosAddon, type AddonLoad } from './authn/kerberos-addon.js';
import { AccessControl } from './policy/access.js';
import { mfaEncryptionSecret, openMfaStore } from './mfa/index.js';
import { MfaService } from './mfa/service.js';
import { withBuiltInRelyingParties } from './relying-parties/built-in.js';

export interface RunningServer {
  /** Where the listener really is (port 0 in config picks a free one). */
  url: string;
  /** The management listener (metrics, probes), when management.port is set. */
  managementUrl?: string;
  deps: AppDeps;
  server: Server;
  /** This process's metrics (a cluster worker hands them to the primary to aggregate). */
  metrics: Metrics;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes Redis and LDAP. */
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** Replaces the directory built from config (tests of pure web behaviour). */
  directory?: Directory;
  /** Replaces the audit trail built from config (tests read events from memory). */
  audit?: AuditLog;
  /** false: no management listener even when management.port is set (a cluster worker: the primary serves it). */
  management?: boolean;
  /** Replaces the loading of the optional kerberos addon (tests of a machine without it). */
  loadKerberosAddon?: () => Promise<AddonLoad>;
}

export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  mkdirSync(config.dataDir, { recursive: true });
  // This process's one Redis connection (none without sessions.redis: memory and files), handed to every
  // store below: they fail and recover together, /readyz speaks for all, and close() ends it last.
  const outageReportMs = config.log.outageReportSeconds * 1000;
  const redis = openRedis(config.sessions.redis, logger, { outageReportMs });
  const dependencyMetrics = new DependencyMetrics();
  // Fixed (keys.signing) or the managed set shared through Redis / <dataDir>/keys, re-read when it changes.
  const keys = await openKeyRing(config, logger, clock, { redis, watch: (store) => dependencyMetrics.watchStore('keySet', store) }).catch(async (err: unknown) => {
    await redis?.close();
    throw err;
  });
  const directory = options.directory ?? (await createDirectory(config, logger, { onBind: dependencyMetrics.observeBind, outageReportMs }));
  const passwordChange = directory.passwordChangeSupport();
  if (!passwordChange.available) {
    // Said once at start, not to each user who typed two passwords: the page answers 503 meanwhile.
    logger.error({ detail: passwordChange.detail }, 'password change needs LDAPS (directory.ldap.urls ldaps:// or startTls): the change-password page is unavailable');
  }
  const stores = dependencyMetrics.watchStores({
    ...createSessionStores(redis, logger, clock),
    lockout: redis ? new RedisLockoutStore(redis, config.lockout.perAddress) : new MemoryLockoutStore(config.lockout.perAddress, clock),
    relyingParties: openRelyingPartyStore(config, logger, redis),
  });
  const registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), logger, { clock, store: stores.relyingParties });
  const csrfSecret = config.web.csrfSecret ?? loadOrCreateSecret(join(config.dataDir, 'csrf-secret'));
  const issuer = federationIdentifier(config);
  const baseUrl = config.server.baseUrl.replace(/\/+$/, '');
  const sessionSecret = deriveSecret(csrfSecret, 'openfed saml2 session values');
  const shutdown = { shuttingDown: false };
  const metrics = new Metrics(keys, clock, dependencyMetrics);
  const audit = metrics.wrap(options.audit ?? openAuditLog(config, { buffered: true }));
  const access = new AccessControl(config.accessControl.policies, corporateNetwork(config.accessControl.intranetNetworks ?? config.microsoft365.internalNetworks));
  const mfaIssuer = config.mfa.issuer ?? config.branding.organisationName ?? new URL(config.server.baseUrl).hostname;
  const mfa = config.keys.encryptionSecret
    ? new MfaService({
        store: openMfaStore(config, logger, redis, clock),
        replay: stores.replay,
        audit,
        encryptionSecret: mfaEncryptionSecret(config),
        issuer: mfaIssuer,
        maxWrongCodes: config.mfa.maxWrongCodes,
        wrongCodeWindowMinutes: config.mfa.wrongCodeWindowMinutes,
        clock,
      })
    : undefined;
  if (!mfa) logger.info('no keys.encryptionSecret: no second factor; relying parties that require MFA are refused');
  const windows = await openIntegratedAuth(config, { directory, audit, logger, load: options.loadKerberosAddon ?? loadKerberosAddon });
  const deps: AppDeps = {
    config,
    directory,
    ...(windows ? { windows } : {}),
    ...(mfa ? { mfa } : {}),
    mfaIssuer,
    sessions: stores.sessions,
    pending: stores.pending,
    replay: stores.replay,
    keys,
    logger,
    audit,
    lockout: new LockoutGuard({ config: config.lockout, store: stores.lockout, directory, audit, logger, clock }),
    clock,
    csrfSecret,
    shutdown,
    registry,
    metadata: new MetadataCache({
      entityId: issuer,
      baseUrl,
      keys: () => ({ primary: keys.primary, ...(keys.next ? { next: keys.next } : {}), previous: keys.previous }),
      registry,
      clock,
      // The STS role names usernamemixed and the MEX only when they are served.
      ...(config.wsTrust.enabled ? { wsTrust: {} } : {}),
    }),
    saml: new SamlIdp({
      issuer,
      ssoUrl: `${baseUrl}${ROUTES.sso}`,
      settings: config.saml,
      registry,
      replay: stores.replay,
      clock,
      keys,
      sessionSecret,
      access,
      issuerFor: (rp, principal) =>
        config.microsoft365.enabled && rp === config.microsoft365.realm ? microsoft365IssuerFor(config.microsoft365, issuer, principal) : undefined,
    }),
    // Rebuilt when `openfed rp add|remove` changes the WS-Fed relying parties.
    wsfed: new WsfedIdp({ issuer, config, relyingParties: registry, clock, keys, sessionSecret, access }),
  };
  const publicListener = createPublicListener(deps);
  // Once shutting down, every request read is answered with "Connection: close": a kept-alive client
  // (a load balancer's pool) sends its next request on a new connection, to another worker or node,
  // instead of keeping this one busy until the grace period ends and its connection is cut.
  const listener: typeof publicListener = (req, res) => {
    if (shutdown.shuttingDown) res.shouldKeepAlive = false;
    return publicListener(req, res);
  };
  const tls = config.server.tls;
  // A Kerberos ticket with a large PAC (a user in many groups) makes an Authorization header of tens
  // of KB, past Node's 16 KB default for all headers.
  const maxHeaderSize = windows ? 96 * 1024 : undefined;
  const server = tls
    ? createHttpsServer({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), ...(maxHeaderSize ? { maxHeaderSize } : {}) }, listener)
    : createHttpServer({ ...(maxHeaderSize ? { maxHeaderSize } : {}) }, listener);
  // Slow-loris protection: a client gets this long to send its headers.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  await listen(server, config.server.port, config.server.host);
  const url = listenUrl(server, tls ? 'https' : 'http');
  const management = config.management.port === undefined || options.management === false ? undefined : createHttpServer(createManagementApp(deps, metrics));
  if (management) await listen(management, config.management.port!, config.management.host);
  const managementUrl = management && listenUrl(management, 'http');
  logger.info(
    { url, managementUrl, baseUrl: config.server.baseUrl, directory: directory.kind, sessions: stores.sessions.kind, signingCert: keys.primary.thumbprint },
    'OpenFed listening',
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // The probes fail first; for server.shutdownDelayMs everything else goes on, so that a load
      // balancer takes this node out before its port closes (nothing refused, nothing reset).
      shutdown.shuttingDown = true;
      const delayMs = config.server.shutdownDelayMs;
      if (delayMs > 0) {
        logger.info({ delayMs }, 'shutting down: probes answer 503; serving on until the load balancer has noticed');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      logger.info('shutting down: no new connections, finishing requests in flight');
      // Stop listening, but not yet close the kept-alive connections that are idle (http's close()
      // would): "idle" is often the few milliseconds between two requests of a busy client, whose next
      // request may already be on its way and would meet a reset. For a last call they stay open; a
      // request on one is answered with "Connection: close" (above), so by the end of it the busy
      // clients have gone and what is left is really idle.
      const drained = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      let sweep: NodeJS.Timeout | undefined;
      // A keep-alive connection whose request just finished turns idle and would hold close()
      // open until its own timeout: after the last call, close idle ones as they appear.
      const lastCall = setTimeout(() => {
        server.closeIdleConnections();
        sweep = setInterval(() => server.closeIdleConnections(), 50);
      }, lastCallMs(config.server.shutdownGraceMs));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.server.shutdownGraceMs)));
      await Promise.race([drained, grace]);
      clearTimeout(lastCall);
      clearInterval(sweep);
      clearTimeout(timer);
      server.closeAllConnections();
      management?.closeAllConnections();
      management?.close();
      await registry.close();
      await Promise.allSettled([stores.close(), directory.close(), keys.close()]);
      await redis?.close();
      audit.flush?.();
      logger.info('stopped');
    })());
  return { url, managementUrl, deps, server, metrics, close };
}

/** The last call for kept-alive connections at shutdown: half a second, or a quarter of a shorter grace period. */
function lastCallMs(shutdownGraceMs: number): number {
  return Math.min(500, Math.floor(shutdownGraceMs / 4));
}

/**
 * A per-installation secret kept in the data directory. A farm must configure the same secret on
 * every node instead (web.csrfSecret / OPENFED_CSRF_SECRET).
 */
export function loadOrCreateSecret(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  return readFileSync(path, 'utf8').trim();
}

/** One shared secret, several independent keys: a leak of one derived value reveals nothing of the others. */
function deriveSecret(secret: string, label: string): string {
  return Buffer.from(hkdfSync('sha256', secret, '', label, 32)).toString('base64url');
}


/**
 * The audit trail goes to its own file (owner-only), or to stdout when configured as "-". A serving
 * process buffers it (see createBufferedFileAuditLog: at most 100 ms of lines at risk on a hard kill);
 * a command-line tool writes its one line synchronously before it exits.
 */
export function openAuditLog(config: Config, options: { buffered?: boolean } = {}): AuditLog {
  const file = config.audit.file ?? join(config.dataDir, 'audit.log');
  if (file === '-') return createAuditLog();
  if (!existsSync(file)) writeFileSync(file, '', { mode: 0o600 });
  if (options.buffered) return createBufferedFileAuditLog(file);
  return createAuditLog(pino.destination({ dest: file, append: true, sync: true }));
}

/**
 * Windows Integrated Authentication, when configured and the addon loads: the service key is read
 * from the keytab through the environment GSSAPI consults (one keytab per process). Without the
 * addon OpenFed still starts — every browser gets the forms page — and says why, once, loudly.
 */
async function openIntegratedAuth(
  config: Config,
  deps: { directory: Directory; audit: AuditLog; logger: Logger; load: () => Promise<AddonLoad> },
): Promise<IntegratedAuth | undefined> {
  const kerberos = config.kerberos;
  if (!kerberos.enabled) return undefined;
  const loaded = await deps.load();
  if (!loaded.ok) {
    deps.logger.error({ reason: loaded.reason }, 'kerberos.enabled but Kerberos is unavailable: Windows Integrated Authentication is off, everyone gets the forms page');
    return undefined;
  }
  process.env.KRB5_KTNAME = `FILE:${resolve(kerberos.keytab!)}`;
  deps.logger.info({ servicePrincipal: kerberos.servicePrincipal, realm: kerberos.realm }, 'Windows Integrated Authentication on');
  return {
    offeredTo: integratedAuthOffer(kerberos, config.microsoft365.internalNetworks),
    offersTransport: corporateNetwork(kerberos.intranetNetworks ?? config.microsoft365.internalNetworks),
    signIns: new WindowsSignIns({ config: kerberos, addon: loaded.addon, directory: deps.directory, audit: deps.audit }),
  };
}
