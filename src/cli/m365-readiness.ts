/**
 * `openfed m365 readiness`: reads the users in scope from Active Directory with the service account
 * and prints what IdFix and Entra Connect would find in them (src/readiness/rules.ts).
 *
 * Exit codes: 0 nothing stops anyone signing in (warnings allowed), 1 at least one error finding,
 * 2 the command could not run (usage, configuration, no DC, no such OU or group). 1 is kept for
 * findings alone, so a script can tell "not ready" from "could not look".
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { ActiveDirectory } from '../directory/active-directory.js';
import type { UserScope } from '../directory/types.js';
import { silentLogger } from '../log.js';
import { readinessFindings, type Finding, type ReadinessConfig } from '../readiness/rules.js';

type Env = Record<string, string | undefined>;

interface ReadinessReport {
  /** What was read, in words: the OU, the group, or baseDn. */
  scope: string;
  domains: readonly string[];
  immutableIdSource: ReadinessConfig['immutableIdSource'];
  users: number;
  errors: number;
  warnings: number;
  /** No error finding: nobody in scope is kept from signing in by what was checked. */
  ok: boolean;
  findings: Finding[];
}

const EXIT_NOT_READY = 1;
const EXIT_CANNOT_RUN = 2;

function describeScope(scope: UserScope, baseDn: string): string {
  if ('ou' in scope) return `${scope.ou} (subtree)`;
  if ('group' in scope) return `members of ${scope.group} (nested groups included)`;
  return `${baseDn} (directory.ldap.baseDn)`;
}

async function runReadiness(env: Env, scope: UserScope): Promise<ReadinessReport> {
  const config = loadConfig(env);
  const ldap = config.directory.ldap;
  if (!ldap) throw new ConfigError('directory.ldap is not configured: readiness reads the users from Active Directory');
  const rules: ReadinessConfig = { domains: config.microsoft365.domains, immutableIdSource: config.microsoft365.immutableIdSource };
  const directory = new ActiveDirectory(ldap, silentLogger, { maxConcurrentBinds: 1 });
  try {
    const users = await directory.listUsers(scope);
    const findings = readinessFindings(users, rules);
    const errors = findings.filter((f) => f.severity === 'error').length;
    return {
      scope: describeScope(scope, ldap.baseDn),
      ...rules,
      users: users.length,
      errors,
      warnings: findings.length - errors,
      ok: errors === 0,
      findings,
    };
  } finally {
    await directory.close().catch(() => undefined);
  }
}

function renderReadiness(report: ReadinessReport): string {
  const header = [
    `Microsoft 365 readiness of ${report.users} user${report.users === 1 ? '' : 's'}: ${report.scope}`,
    `microsoft365.domains: ${report.domains.length > 0 ? report.domains.join(', ') : 'none'}; immutableIdSource: ${report.immutableIdSource}`,
    '',
  ];
  const rows = report.findings.map((f) => [f.user, f.check, f.severity, f.message] as const);
  const table: string[] = [];
  if (rows.length > 0) {
    const titles = ['USER', 'CHECK', 'SEVERITY', 'MESSAGE'] as const;
    const width = [0, 1, 2].map((i) => Math.max(titles[i]!.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(width[i]!) : c)).join('  ');
    table.push(line(titles), ...rows.map(line), '');
  }
  const affected = new Set(report.findings.filter((f) => f.severity === 'error').map((f) => f.dn)).size;
  const summary =
    report.findings.length === 0
      ? 'Ready: no findings.'
      : `${report.errors} error${report.errors === 1 ? '' : 's'} (${affected} user${affected === 1 ? '' : 's'} cannot sign in to Microsoft 365), ` +
        `${report.warnings} warning${report.warnings === 1 ? '' : 's'}.`;
  return `${[...header, ...table, summary].join('\n')}\n`;
}

export function readinessCommand(env: Env = process.env): Command {
  return new Command('readiness')
    .description("check the users' directory data as IdFix and Entra Connect would: UPN suffix and characters, duplicates, ImmutableID source, disabled accounts")
    .addOption(new Option('--ou <dn>', 'the users in this OU and below (default: directory.ldap.baseDn)').conflicts('group'))
    .option('--group <name>', 'the members of this group, nested ones included: a DN, sAMAccountName or cn')
    .option('--config <file>', 'the configuration file (default: $OPENFED_CONFIG)')
    .option('--json', 'print the report as JSON')
    .exitOverride((err: CommanderError) => {
      // Commander has printed the usage error already; only the exit code is ours to choose.
      process.exit(err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN);
    })
    .action(async (options: { ou?: string; group?: string; config?: string; json?: boolean }) => {
      const scope: UserScope = options.ou !== undefined ? { ou: options.ou } : options.group !== undefined ? { group: options.group } : { all: true };
      let report: ReadinessReport;
      try {
        report = await runReadiness(options.config !== undefined ? { ...env, OPENFED_CONFIG: options.config } : env, scope);
      } catch (err) {
        process.stderr.write(`openfed: ${(err as Error).message}\n`);
        process.exitCode = EXIT_CANNOT_RUN;
        return;
      }
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReadiness(report));
      if (!report.ok) process.exitCode = EXIT_NOT_READY;
    });
}
