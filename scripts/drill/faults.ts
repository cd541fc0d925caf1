/**
 * The faults the drill puts OpenFed through, one at a time under load. Each `run` deals the blow and,
 * for an outage, waits and removes the cause again; it resolves with when the cause was gone (the
 * moment from which the drill measures recovery).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClusterSetup, RedisSentinelSetup, RedisServer } from '../../test/helpers/redis.js';
import { tcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.js';

export type RedisTopology =
  | { kind: 'single'; server: RedisServer }
  | { kind: 'sentinel'; setup: RedisSentinelSetup }
  | { kind: 'cluster'; setup: RedisClusterSetup };

/** Two addresses of the domain controller (proxies in front of the one Samba DC), cut and restored at will. */
export class DcAddresses {
  private constructor(
    private readonly target: { host: string; port: number },
    private readonly proxies: (TcpProxy | undefined)[],
    readonly ports: readonly number[],
  ) {}

  static async open(target: { host: string; port: number }, count: number): Promise<DcAddresses> {
    const proxies = await Promise.all(Array.from({ length: count }, () => tcpProxy(target)));
    return new DcAddresses(target, proxies, proxies.map((p) => p.port));
  }

  /** Every connection through address `i` destroyed and nothing listening there: a DC gone from the network. */
  async cut(i: number): Promise<void> {
    await this.proxies[i]?.cut();
    this.proxies[i] = undefined;
  }

  /** Listening again on the same port. */
  async restore(i: number): Promise<void> {
    this.proxies[i] ??= await tcpProxy(this.target, { listenPort: this.ports[i]! });
  }

  async close(): Promise<void> {
    await Promise.all(this.proxies.map((_, i) => this.cut(i)));
  }
}

export interface FaultContext {
  /** The cluster primary's pid. */
  primaryPid(): number;
  /** The listening workers' pids, from the management port's /readyz. */
  workerPids(): Promise<number[]>;
  redis: RedisTopology;
  dc: DcAddresses;
  /** How long an outage lasts before its cause is removed. */
  downMs: number;
  /** server.shutdownGraceMs: a drain that takes this long was cut short, its connections closed by force. */
  shutdownGraceMs: number;
  /** server.shutdownDelayMs: served on for this long after the signal, before the drain starts. */
  shutdownDelayMs: number;
  /** Starts OpenFed again after it stopped (the drain), on the same port and configuration. */
  restartOpenFed(): Promise<void>;
  log(line: string): void;
}

export interface Fault {
  name: string;
  /** What happens, for the report. */
  what: string;
  run(ctx: FaultContext): Promise<{ restoredAt: number; notes: string[]; problems?: string[] }>;
}

const poll = async <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(25);
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
};

export const workerKill: Fault = {
  name: 'worker SIGKILL',
  what: 'one worker killed with SIGKILL; the primary starts a replacement',
  async run(ctx) {
    const pids = await ctx.workerPids();
    const victim = pids[0]!;
    const at = Date.now();
    process.kill(victim, 'SIGKILL');
    await poll('a replacement worker listening', 30_000, async () => {
      const now = await ctx.workerPids();
      return now.length === pids.length && !now.includes(victim) ? true : undefined;
    });
    return { restoredAt: at, notes: [`replacement listening after ${Date.now() - at} ms`] };
  },
};

export const redisRestart: Fault = {
  name: 'Redis killed and restarted',
  what: 'redis-server SIGKILLed, restarted (same port, AOF) after the outage',
  async run(ctx) {
    if (ctx.redis.kind !== 'single') throw new Error('needs a single Redis');
    await ctx.redis.server.stop();
    await sleep(ctx.downMs);
    await ctx.redis.server.restart();
    return { restoredAt: Date.now(), notes: [] };
  },
};

export const redisFailover: Fault = {
  name: 'Redis master failover',
  what: 'the Redis master SIGKILLed; Sentinel or the cluster promotes its replica',
  async run(ctx) {
    const at = Date.now();
    if (ctx.redis.kind === 'sentinel') {
      const { setup } = ctx.redis;
      const old = setup.master.port;
      await setup.master.stop();
      const port = await poll('the sentinel naming a new master', 30_000, async () => ((await setup.masterPort()) !== old ? setup.masterPort() : undefined));
      return { restoredAt: Date.now(), notes: [`sentinel named ${port} master after ${Date.now() - at} ms`] };
    }
    if (ctx.redis.kind === 'cluster') {
      const { setup } = ctx.redis;
      const victim = setup.masters[0]!;
      await victim.stop();
      // Slot 0 is the victim's (the first master holds the first range).
      const port = await poll('a replica promoted for the dead master', 30_000, async () => {
        const serving = await setup.servingPort(0, setup.masters[1]);
        return serving !== undefined && serving !== victim.port ? serving : undefined;
      });
      return { restoredAt: Date.now(), notes: [`replica ${port} promoted after ${Date.now() - at} ms`] };
    }
    throw new Error('needs Redis Sentinel or Cluster');
  },
};

export const dcCut: Fault = {
  name: 'every DC cut',
  what: 'both DC addresses cut from the network, restored after the outage',
  async run(ctx) {
    await Promise.all(ctx.dc.ports.map((_, i) => ctx.dc.cut(i)));
    await sleep(ctx.downMs);
    await Promise.all(ctx.dc.ports.map((_, i) => ctx.dc.restore(i)));
    return { restoredAt: Date.now(), notes: [] };
  },
};

export const firstDcCut: Fault = {
  name: 'first DC cut',
  what: 'the first of two DC addresses cut, restored after the outage; the second one serves',
  async run(ctx) {
    const at = Date.now();
    await ctx.dc.cut(0);
    await sleep(ctx.downMs);
    await ctx.dc.restore(0);
    // Nothing had to be restored for users: the second DC served throughout.
    return { restoredAt: at, notes: [] };
  },
};

export const drain: Fault = {
  name: 'SIGTERM to the primary',
  what: 'SIGTERM to the primary under load (graceful drain), then OpenFed started again',
  async run(ctx) {
    const pid = ctx.primaryPid();
    const at = Date.now();
    process.kill(pid, 'SIGTERM');
    await poll('the primary exiting', 30_000, async () => (alive(pid) ? undefined : true));
    const exitedAfter = Date.now() - at;
    await sleep(Math.min(ctx.downMs, 1000)); // a moment with nothing listening, as before a restart
    await ctx.restartOpenFed();
    return {
      restoredAt: Date.now(),
      notes: [`the primary exited ${exitedAfter} ms after SIGTERM (delay ${ctx.shutdownDelayMs} ms, grace ${ctx.shutdownGraceMs} ms)`],
      // At the end of the grace period the workers cut whatever connections are left, requests and all.
      problems:
        exitedAfter >= ctx.shutdownDelayMs + ctx.shutdownGraceMs ? [`the drain ran into server.shutdownGraceMs (${ctx.shutdownGraceMs} ms): connections cut`] : [],
    };
  },
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
