/**
 * `openfed mfa status <user>` and `openfed mfa reset <user>`: a user's second factor, for the help
 * desk (a lost phone: reset, and the user enrols again at the next sign-in that needs MFA). Read
 * from the store the servers use: Redis with sessions.redis, else `<dataDir>/mfa` on this host.
 * Neither opens a secret, so both work without keys.encryptionSecret (and reset still works when it
 * was lost).
 */
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { systemClock, type Clock } from '../clock.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createDirectory, type Directory } from '../directory/index.js';
import { silentLogger } from '../log.js';
import { openMfaStore } from '../mfa/index.js';
import { readMfaStatus, resetMfa, type MfaStatus } from '../mfa/service.js';
import { mfaUserKey, type MfaStore } from '../mfa/types.js';
import { openAuditLog } from '../server.js';

interface MfaReport {
  user: string;
  enrolled: boolean;
  enrolledAt: string | null;
  methods: Array<{ method: string; addedAt: string }>;
  recoveryCodesLeft: number;
  pendingEnrolment: boolean;
  wrongCodes: number;
  /** When codes are refused (the wrong-code limit was reached): until when. */
  refusedUntil: string | null;
}

function buildReport(status: MfaStatus, now: number): MfaReport {
  return {
    user: status.user,
    enrolled: status.enrolled,
    enrolledAt: status.enrolledAt === undefined ? null : new Date(status.enrolledAt).toISOString(),
    methods: status.methods.map((m) => ({ method: m.method, addedAt: new Date(m.addedAt).toISOString() })),
    recoveryCodesLeft: status.recoveryCodesLeft,
    pendingEnrolment: status.pendingEnrolment,
    wrongCodes: status.wrongCodes,
    refusedUntil: status.blockedForMs > 0 ? new Date(now + status.blockedForMs).toISOString() : null,
  };
}

function renderReport(r: MfaReport): string {
  const lines = [
    `User:                 ${r.user}`,
    `Second factor:        ${r.enrolled ? `enrolled ${r.enrolledAt} (${r.methods.map((m) => m.method).join(', ')})` : 'not enrolled'}${r.pendingEnrolment ? ', enrolment begun' : ''}`,
    `Recovery codes left:  ${r.enrolled ? r.recoveryCodesLeft : '-'}`,
    `Wrong codes:          ${r.wrongCodes}${r.refusedUntil ? `  codes REFUSED until ${r.refusedUntil}` : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** mfa.maxWrongCodes: the status says "blocked" by the servers' own limit. */
function maxWrongCodes(config: Config): number {
  return config.mfa.maxWrongCodes;
}

/** The key the servers keep the user's second factor under: the directory's UPN, else the name as typed. */
async function resolveUser(config: Config, name: string): Promise<string> {
  let directory: Directory | undefined;
  try {
    directory = await createDirectory(config, silentLogger);
    const principal = await directory.findPrincipal(name);
    return mfaUserKey(principal ? principal.userPrincipalName : name);
  } catch {
    return mfaUserKey(name); // no DC or no demo file: a UPN typed is what the servers use
  } finally {
    await directory?.close();
  }
}

async function withStore<T>(config: Config, use: (store: MfaStore) => Promise<T>): Promise<T> {
  const store = openMfaStore(config, silentLogger);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

export function mfaCommand(env: Record<string, string | undefined> = process.env, clock: Clock = systemClock): Command {
  const command = new Command('mfa').description("a user's second factor (TOTP): status, and reset for a lost authenticator (audited)");
  command
    .command('status')
    .description('print whether a user has a second factor, recovery codes left and wrong codes in the current window')
    .argument('<user>', 'UPN, DOMAIN\\user or sAMAccountName')
    .option('--json', 'print the status as JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const config = loadConfig(env);
      const user = await resolveUser(config, name);
      const report = await withStore(config, async (store) => buildReport(await readMfaStatus(store, user, maxWrongCodes(config)), clock.now()));
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
    });
  command
    .command('reset')
    .description("forget a user's second factor and recovery codes: the user enrols again at the next sign-in that needs MFA")
    .argument('<user>', 'UPN, DOMAIN\\user or sAMAccountName')
    .option('--json', 'print {"user": ..., "wasEnrolled": true|false}')
    .action(async (name: string, options: { json?: boolean }) => {
      const config = loadConfig(env);
      const user = await resolveUser(config, name);
      const by = userInfo().username;
      if (config.audit.file === undefined) mkdirSync(config.dataDir, { recursive: true }); // the trail lives there
      const audit = openAuditLog(config);
      const wasEnrolled = await withStore(config, (store) => resetMfa(store, audit, user, { by }));
      audit.record({ type: 'admin.change', command: 'mfa reset', target: user, by });
      if (options.json) process.stdout.write(`${JSON.stringify({ user, wasEnrolled })}\n`);
      else process.stdout.write(wasEnrolled ? `Second factor of ${user} reset: they enrol again at their next sign-in that needs it.\n` : `${user} had no second factor.\n`);
    });
  return command;
}
