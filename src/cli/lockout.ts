/**
 * `openfed lockout show <user>` and `openfed lockout reset <user>`: the extranet-lockout state of one
 * user (AD FS Get-/Reset-ADFSAccountActivity), read from the same store the servers use. The state
 * is shared only through Redis; with sessions in memory it lives inside the server process, out of reach.
 */
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createDirectory } from '../directory/index.js';
import { lockoutSettings } from '../lockout/guard.js';
import { decide, EMPTY_STATE, liveFamiliarIps, userKey, type LockoutState } from '../lockout/policy.js';
import { RedisLockoutStore } from '../lockout/redis-store.js';
import type { LockoutStore } from '../lockout/store.js';
import { silentLogger } from '../log.js';
import { openRedis } from '../redis/connection.js';
import { openAuditLog } from '../server.js';

export interface LockoutReport {
  user: string;
  mode: Config['lockout']['mode'];
  threshold: number;
  unknownBadCount: number;
  familiarBadCount: number;
  lastBadAt: string | null;
  lockedForUnknownAddresses: boolean;
  lockedForFamiliarAddresses: boolean;
  familiarIps: Array<{ ip: string; lastSuccessAt: string }>;
}

export function buildReport(config: Config, user: string, state: LockoutState, now: number): LockoutReport {
  const settings = lockoutSettings(config.lockout);
  const familiarIps = liveFamiliarIps(state, now, settings);
  return {
    user,
    mode: settings.mode,
    threshold: settings.threshold,
    unknownBadCount: state.unknownBadCount,
    familiarBadCount: state.familiarBadCount,
    lastBadAt: state.lastBadAt > 0 ? new Date(state.lastBadAt).toISOString() : null,
    // An address nobody signed in from is unknown; a familiar one of the list stands for them all.
    lockedForUnknownAddresses: decide(state, '', now, { ...settings, mode: 'enforce' }).locked,
    lockedForFamiliarAddresses: familiarIps[0] !== undefined && decide(state, familiarIps[0].ip, now, { ...settings, mode: 'enforce' }).locked,
    familiarIps: familiarIps.map((f) => ({ ip: f.ip, lastSuccessAt: new Date(f.lastSuccessAt).toISOString() })),
  };
}

export function renderReport(r: LockoutReport): string {
  const lines = [
    `User:                 ${r.user}`,
    `Mode:                 ${r.mode} (threshold ${r.threshold})`,
    `Unknown bad count:    ${r.unknownBadCount}${r.lockedForUnknownAddresses ? '  LOCKED for unknown addresses' : ''}`,
    `Familiar bad count:   ${r.familiarBadCount}${r.lockedForFamiliarAddresses ? '  LOCKED for familiar addresses' : ''}`,
    `Last bad password:    ${r.lastBadAt ?? '-'}`,
    `Familiar addresses:   ${r.familiarIps.length === 0 ? '-' : r.familiarIps.map((f) => `${f.ip} (${f.lastSuccessAt})`).join(', ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The key the servers count this name under: their cached resolution, else the directory's UPN, else the name. */
async function resolveUser(config: Config, store: LockoutStore, name: string): Promise<string> {
  const key = userKey(name);
  const alias = await store.getAlias(key);
  if (alias) return alias;
  if (!config.directory.ldap) return key;
  const directory = await createDirectory(config, silentLogger);
  try {
    const principal = await directory.findPrincipal(name);
    return principal ? userKey(principal.userPrincipalName) : key;
  } catch {
    return key; // no DC: the UPN as typed is what the servers use for directory users anyway
  } finally {
    await directory.close();
  }
}

async function withStore<T>(config: Config, use: (store: LockoutStore) => Promise<T>): Promise<T> {
  if (!config.sessions.redis) {
    throw new ConfigError('lockout state is shared only through Redis: configure sessions.redis (with sessions in memory it lives inside the server process)');
  }
  const redis = openRedis(config.sessions.redis, silentLogger);
  try {
    return await use(new RedisLockoutStore(redis, config.lockout.perAddress));
  } finally {
    await redis.close();
  }
}

export function lockoutCommand(env: Record<string, string | undefined> = process.env, clock: Clock = systemClock): Command {
  const command = new Command('lockout').description('extranet smart lockout state of a user (AD FS Get-/Reset-ADFSAccountActivity)');
  command
    .command('show')
    .description("print a user's bad-password counters and familiar addresses")
    .argument('<user>', 'UPN, DOMAIN\\user or sAMAccountName')
    .option('--json', 'print the state as JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const config = loadConfig(env);
      await withStore(config, async (store) => {
        const user = await resolveUser(config, store, name);
        const state = (await store.get(user))?.state ?? EMPTY_STATE;
        const report = buildReport(config, user, state, clock.now());
        process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      });
    });
  command
    .command('reset')
    .description("clear a user's bad-password counters (familiar addresses go too), as Reset-ADFSAccountLockout")
    .argument('<user>', 'UPN, DOMAIN\\user or sAMAccountName')
    .action(async (name: string) => {
      const config = loadConfig(env);
      await withStore(config, async (store) => {
        const user = await resolveUser(config, store, name);
        const existed = await store.delete(user);
        openAuditLog(config).record({ type: 'lockout.reset', user, by: userInfo().username });
        process.stdout.write(existed ? `Lockout state of ${user} reset.\n` : `${user} had no lockout state.\n`);
      });
    });
  return command;
}
