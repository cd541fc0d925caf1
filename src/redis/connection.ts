/**
 * The Redis connection: the only code that opens one, and the only module that imports ioredis's
 * client classes. Standalone Redis, Sentinel and Cluster alike (sessions.redis picks one).
 *
 * A process opens one connection (openRedis, in server.ts's wiring or a CLI command) and hands it to
 * every Redis-backed store, each kept with its feature: sessions, pending requests and the replay
 * cache (sessions/redis-store.ts), lockout (lockout/redis-store.ts), added relying parties
 * (relying-parties/redis-store.ts) and the key set (keys/redis-store.ts). They fail and recover
 * together, as the user sees them, and one health check speaks for all of them. No store uses pub/sub
 * or blocking commands, so no second connection is needed. (A Cluster client holds one socket per
 * node it talks to, and a Sentinel client also talks to the sentinels to find the master and hear of
 * failovers; still one client, one state.)
 *
 * When Redis is unreachable every operation fails fast with StoreUnavailableError (the page
 * answers 503) while the client keeps reconnecting in the background, so the node heals by itself.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { OutageLog } from '../outage.js';
import { defineScripts, isDefined, type LuaScript, type RedisClient } from './scripts.js';

const CLUSTER_OUTAGE_SETTLE_MS = 1000;

/** Reconnect backoff: 100 ms doubling to this cap, forever. Small, so recovery is quick. */
const MAX_RECONNECT_DELAY_MS = 2000;

const reconnectDelay = (attempt: number) =>
  Math.min(100 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);

type ConnectionState = 'starting' | 'up' | 'down';

/** CLIENT SETNAME of this process's connection (one per process: see the header). */
export const CONNECTION_NAME = `openfed-${process.pid}`;
export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

/**
 * What RedisConnection needs: sessions.redis as parsed. Callers outside the config loader (tests,
 * CLI helpers) may leave out the optional mode keys; exactly one of url, sentinels, cluster is used.
 */
export type RedisConnectionConfig = Pick<RedisConfig, 'keyPrefix' | 'connectTimeoutMs' | 'commandTimeoutMs'> &
  Partial<Omit<RedisConfig, 'keyPrefix' | 'connectTimeoutMs' | 'commandTimeoutMs'>>;

/**
 * The process's Redis connection, or undefined without sessions.redis (stores then keep their data
 * in memory or in files under dataDir). Whoever opens it closes it, once, after every store using it
 * is done; a store handed a connection never closes it.
 */
export function openRedis(config: RedisConnectionConfig, logger: Logger, options?: RedisConnectionOptions): RedisConnection;
export function openRedis(config: RedisConnectionConfig | undefined, logger: Logger, options?: RedisConnectionOptions): RedisConnection | undefined;
export function openRedis(config: RedisConnectionConfig | undefined, logger: Logger, options: RedisConnectionOptions = {}): RedisConnection | undefined {
  return config && new RedisConnection(config, logger, options);
}

export interface RedisConnectionOptions {
  /** How often an outage is reported as still going on (log.outageReportSeconds). Default 10 s. */
  outageReportMs?: number;
}

/**
 * One ioredis client shared by every Redis-backed store, with the failure policy in one place: no
 * offline queue (a request must not wait for a Redis that may never come back), a command timeout,
 * endless capped reconnects, and connection loss/recovery logged once each.
 */
export class RedisConnection {
  readonly keyPrefix: string;
  readonly mode: RedisMode;
  private readonly client: RedisClient;
  private readonly logger: Logger;
  private readonly connectTimeoutMs: number;
  /** Passwords, scrubbed from anything we log or report in case an error message echoes one. */
  private readonly secrets: string[];
  private state: ConnectionState = 'starting';
  /** Why the last connection attempt failed (scrubbed), so health() can say more than "not connected". */
  private lastFailure: string | undefined;
  /**
   * The outage as the log tells it: lost, still down (with the operations refused), back. Fed by
   * the connection's events and by every command, so a Redis that hangs without closing its socket
   * (commands time out) is reported too.
   */
  private readonly outage: OutageLog;
  private readyWaiter: Promise<void> | undefined;
  private closed: Promise<void> | undefined;

  constructor(config: RedisConnectionConfig, logger: Logger, options: RedisConnectionOptions = {}) {
    checkKeyPrefix(config.keyPrefix);
    this.keyPrefix = config.keyPrefix;
    this.connectTimeoutMs = config.connectTimeoutMs;
    const urlPassword = config.url ? decodeURIComponent(new URL(config.url).password) : '';
    this.secrets = [urlPassword, config.password ?? '', config.sentinelPassword ?? ''].filter((p) => p !== '');

    const built = createClient(config);
    this.mode = built.mode;
    this.client = built.client;
    defineScripts(this.client);
    // Log where we connect, never a URL: it may carry a password.
    this.logger = logger.child({ component: 'redis', redis: built.where });
    // A Cluster with a dead master fails only the keys in its slots, so successes and failures
    // alternate until the promotion: the outage ends after a second with no failure, not at the first success.
    const settleMs = this.mode === 'cluster' ? CLUSTER_OUTAGE_SETTLE_MS : 0;
    this.outage = new OutageLog(
      this.logger,
      { what: 'Redis', impact: 'sign-ins fail with 503 until it is back; reconnecting' },
      options.outageReportMs ?? 10_000,
      { now: () => Date.now() },
      settleMs,
    );

    // Without an 'error' listener ioredis reports every failed reconnect on stderr.
    this.client.on('error', (err: Error) => this.markDown(err));
    this.client.on('close', () => this.markDown());
    this.client.on('ready', () => this.markUp());
    if (this.client instanceof Cluster) {
      // One node failing while the cluster as a whole is up: its slots fail until it is back or replaced.
      this.client.on('node error', (err: Error, node: string) =>
        this.logger.debug({ node, reason: this.describe(err) }, 'Redis Cluster node error'),
      );
    }
  }

  /**
   * Runs commands, turning every failure (not connected, timeout, error reply) into
   * StoreUnavailableError. `operation` names what failed, for the logs. On a Cluster, a command or
   * script must keep all its keys in one slot (see checkSlotLayout).
   */
  async run<T>(operation: string, command: (client: RedisClient) => Promise<T>): Promise<T> {
    let result: T;
    try {
      await this.whenReady();
      result = await command(this.client);
    } catch (err) {
      // One line per refused operation only at debug: the outage itself is logged as it changes.
      const reason = this.describe(err);
      if (this.logger.isLevelEnabled('debug')) this.logger.debug({ operation, reason }, 'Redis operation failed');
      this.outage.failed(reason);
      throw new StoreUnavailableError(`Redis unavailable: ${operation} failed`, { cause: err });
    }
    this.outage.ok();
    return result;
  }

  /**
   * Builds something on the client once, before its first command: a library that defines its own
   * Lua commands (see defineScripts for why later is too late). Commands still go through run().
   */
  prepare<T>(make: (client: RedisClient) => T): T {
    return make(this.client);
  }

  /**
   * Throws unless the client knows these scripts: it does when their module was loaded before the
   * connection was opened (see luaScript). Stores call it as they are made, so a wrong import order
   * stops the start instead of failing the first sign-in.
   */
  requireScripts(...required: LuaScript[]): void {
    const missing = required.filter((script) => !isDefined(this.client, script));
    if (missing.length > 0) {
      throw new Error(`Redis scripts ${missing.map((s) => s.name).join(', ')} were declared after this connection was opened: load their store's module first`);
    }
  }

  /** Redis's own clock (TIME), for `openfed doctor`'s clock check. */
  async serverTime(): Promise<number> {
    const [seconds, micros] = await this.run('read server time', (c) => c.time());
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /** One health state for every store on this connection: /readyz reports it through the session store. */
  async health(): Promise<{ ok: boolean; detail: string }> {
    const started = performance.now();
    try {
      await this.run('ping', (c) => c.ping());
      return { ok: true, detail: `redis ${this.mode} ok (${Math.round(performance.now() - started)} ms)` };
    } catch (err) {
      const reason = this.describe(rootCause(err));
      const last = this.lastFailure !== undefined && this.state === 'down' && !reason.includes(this.lastFailure) ? `; last error: ${this.lastFailure}` : '';
      return { ok: false, detail: `redis unavailable: ${reason}${last}` };
    }
  }

  /** Idempotent. For whoever opened the connection, once every store using it is done. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.outage.stop();
      if (this.client.status === 'ready') {
        await this.client.quit().catch(() => undefined);
      }
      this.client.disconnect(); // also stops a pending reconnect
    })();
    return this.closed;
  }

  /**
   * Resolves when commands can be sent. While a connection attempt is under way (notably at boot)
   * it waits for that attempt, bounded by the connect timeout; between attempts Redis is known to
   * be down and the caller fails at once instead of queueing.
   */
  private whenReady(): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return Promise.resolve();
    if (this.closed || (status !== 'connecting' && status !== 'connect')) {
      return Promise.reject(new Error(`not connected (${status})`));
    }
    // One waiter for all callers: a listener per request would pile up under load.
    this.readyWaiter ??= new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('close', onClose);
        this.readyWaiter = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => settle();
      const onClose = () => settle(new Error('connection attempt failed'));
      const timer = setTimeout(() => settle(new Error('connection attempt timed out')), this.connectTimeoutMs);
      timer.unref();
      this.client.on('ready', onReady);
      this.client.on('close', onClose);
    });
    return this.readyWaiter;
  }

  private markDown(err?: Error): void {
    if (this.closed) return;
    if (err) this.lastFailure = this.describe(err);
    const reason = err ? this.describe(err) : 'connection closed';
    // A failed reconnect refuses nobody, but it starts the outage (or keeps "still down" coming).
    this.outage.failed(reason, { refused: false, atStart: this.state === 'starting' });
    if (this.state === 'down') {
      if (err) this.logger.debug({ reason }, 'Redis still unreachable');
      return;
    }
    this.state = 'down';
  }

  private markUp(): void {
    if (this.state === 'starting') this.logger.info({ mode: this.mode }, 'Connected to Redis');
    this.outage.ok();
    this.state = 'up';
    this.lastFailure = undefined;
  }

  /** Error code and message, with passwords scrubbed in case a message ever echoes one. */
  private describe(err: unknown): string {
    const e = err as { code?: unknown; message?: unknown };
    let text = [e.code, e.message].filter((part) => typeof part === 'string').join(' ');
    for (const secret of this.secrets) {
      text = text.split(secret).join('***').split(encodeURIComponent(secret)).join('***');
    }
    return text || 'unknown error';
  }
}

/** Refuses a prefix that would carry its own hash tag: every key would then share one slot, or none. */
export function checkKeyPrefix(keyPrefix: string): void {
  if (/[{}]/.test(keyPrefix)) {
    throw new RangeError('configuration key sessions.redis.keyPrefix: must not contain { or }');
  }
}

function tlsOptions(config: RedisConnectionConfig): ConnectionOptions | undefined {
  const tls = config.tls;
  if (!tls) return undefined;
  const options: ConnectionOptions = { rejectUnauthorized: tls.rejectUnauthorized };
  if (tls.caFile !== undefined) {
    try {
      options.ca = readFileSync(tls.caFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new RangeError(`configuration key sessions.redis.tls.caFile: ${tls.caFile} cannot be read (${code})`);
    }
  }
  return options;
}

function createClient(config: RedisConnectionConfig): { client: RedisClient; mode: RedisMode; where: string } {
  const tls = tlsOptions(config);
  const nodeOptions: RedisOptions = {
    // CLIENT LIST on the Redis side then shows which process each connection belongs to.
    connectionName: CONNECTION_NAME,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    // Commands in flight when the socket drops are retried once after reconnecting, then failed;
    // the command timeout bounds the wait either way.
    maxRetriesPerRequest: 1,
    // After a failover the old primary answers READONLY: reconnect to find the new one.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    ...(config.username !== undefined && { username: config.username }),
    ...(config.password !== undefined && { password: config.password }),
    ...(tls && { tls }),
  };
  const list = (nodes: { host: string; port: number }[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');

  if (config.cluster) {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: config.connectTimeoutMs,
      redisOptions: nodeOptions,
      lazyConnect: false,
      enableAutoPipelining: true,
      // While a master is dead its slots have no server until a replica is promoted (cluster-node-timeout
      // plus an election: seconds). ioredis's defaults retry such a command every 100 ms up to 16
      // times, so a request touching those slots waited 1.6-1.8 s for its 503 (measured), and so did
      // any user whose request merely wrote its replay key there. Instead a command for a slot whose
      // master is unreachable (connection refused or closed) or that the cluster calls down fails at
      // once (503), the slot map is refreshed in the background, and the first request after the
      // promotion goes to the new master (a MOVED is still followed at once).
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      // TRYAGAIN (a multi-key command during a slot migration) is brief: retried, a few times only.
      retryDelayOnTryAgain: 50,
      maxRedirections: 4,
    };
    return { client: new Cluster(config.cluster, options), mode: 'cluster', where: `cluster ${list(config.cluster)}` };
  }

  const options: RedisOptions = {
    ...nodeOptions,
    enableOfflineQueue: false,
    retryStrategy: reconnectDelay,
    // Connect at boot, so a wrong address or password shows in the log before the first sign-in.
    lazyConnect: false,
    // Commands issued by concurrent requests in one turn of the event loop leave in one write: under
    // load a socket write per command (session read, replay SET) cost more CPU than the commands.
    enableAutoPipelining: true,
  };
  if (config.sentinels) {
    if (config.name === undefined) throw new RangeError('configuration key sessions.redis.name: required with sentinels');
    const sentinelOptions: RedisOptions = {
      ...options,
      sentinels: config.sentinels,
      name: config.name,
      role: 'master',
      ...(config.sentinelPassword !== undefined && { sentinelPassword: config.sentinelPassword }),
      ...(tls && { sentinelTLS: tls, enableTLSForSentinelMode: true }),
      // Sentinels announce a failover on +switch-master: move to the new master at once rather
      // than when the old one's socket finally fails.
      failoverDetector: true,
    };
    return { client: new Redis(sentinelOptions), mode: 'sentinel', where: `sentinel ${config.name} via ${list(config.sentinels)}` };
  }
  if (config.url === undefined) {
    throw new RangeError('configuration key sessions.redis: expected one of url (standalone), sentinels (with name) or cluster');
  }
  const url = new URL(config.url);
  return { client: new Redis(config.url, options), mode: 'standalone', where: `${url.hostname}:${url.port || 6379}` };
}

function rootCause(err: unknown): unknown {
  return err instanceof StoreUnavailableError && err.cause !== undefined ? err.cause : err;
}

