/**
 * `openfed init`, `openfed doctor`, `openfed rp list` and `openfed sessions revoke <upn>`: setting up a
 * first installation, checking one (configuration, DCs, Redis, token-signing certificate, relying
 * parties) before it serves users, listing who may receive tokens, and ending a user's SSO sessions.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ActiveDirectory } from '../directory/active-directory.js';
import { fromPem, loadSigningKey, type SigningKey } from '../keys/signing-key.js';
import { silentLogger } from '../log.js';
import { RelyingPartyRegistry } from '../relying-parties/registry.js';
import { openAuditLog } from '../server.js';
import { createStores } from '../sessions/index.js';
import { withBuiltInRelyingParties } from '../relying-parties/built-in.js';

type Env = Record<string, string | undefined>;

const DAY_MS = 86_400_000;
const print = (text: string) => process.stdout.write(text);
const printJson = (value: unknown) => print(`${JSON.stringify(value, null, 2)}\n`);
const message = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown error';

// ---------------------------------------------------------------------------------------------- init

/** The starter configuration: every line a newcomer needs, commented, working as written. */
export function starterConfig(baseUrl: string, dataDir: string): string {
  const host = new URL(baseUrl).hostname;
  return [
    '# OpenFed configuration, made by `openfed init`. Reference: README.md (generated from src/config/schema.ts).',
    '# Check it with `openfed doctor`; start the server with `npm start` (OPENFED_CONFIG points at this file).',
    '',
    'server:',
    '  # Public URL users and relying parties reach; the Federation Service identifier derives from its host:',
    `  # http://${host}/adfs/services/trust`,
    `  baseUrl: ${JSON.stringify(baseUrl)}`,
    '  port: 8080',
    '',
    '# Generated state: the self-signed token-signing key, the demo users file, secrets, the audit trail.',
    `dataDir: ${JSON.stringify(dataDir)}`,
    '',
    'directory:',
    '  # No ldap section: the DEMO directory (demo@openfed.test / OpenFed-Demo-1). Never for production.',
    '  # For Active Directory (bind password in OPENFED_LDAP_BIND_PASSWORD):',
    '  # ldap:',
    '  #   urls: ["ldaps://dc1.contoso.com:636", "ldaps://dc2.contoso.com:636"]',
    '  #   baseDn: "DC=contoso,DC=com"',
    '  #   bindDn: "svc-openfed@contoso.com"',
    '  demo: {}',
    '',
    'sessions:',
    '  # No redis section: SSO sessions in memory, one node only. For a farm (URL in OPENFED_REDIS_URL):',
    '  # redis:',
    '  #   url: "redis://127.0.0.1:6379/0"',
    '  lifetimeMinutes: 480',
    '',
    '# Token-signing key: absent, so the self-signed certificate in <dataDir>/keys is used (valid one year).',
    '# keys:',
    '#   signing:',
    '#     pkcs12File: /etc/openfed/token-signing.pfx',
    '',
    '# SAML 2.0 service providers that may receive tokens (openfed rp list shows them):',
    'relyingParties: []',
    '#  - entityId: "https://sp.example.com/saml"',
    '#    metadata:',
    '#      url: "https://sp.example.com/saml/metadata"',
    '',
    '# WS-Federation relying parties:',
    'wsfedRelyingParties: []',
    '#  - realm: "urn:example:app"',
    '#    replyUrls: ["https://app.example.com/signin-wsfed"]',
    '',
    'microsoft365:',
    '  enabled: false',
    '  # domains: ["contoso.com"]',
    '',
  ].join('\n');
}

export interface InitResult {
  configFile: string;
  dataDir: string;
  signingCertificate: string;
  thumbprint: string;
  notAfter: string;
  nextSteps: string[];
}

export async function runInit(dir: string, baseUrl: string): Promise<InitResult> {
  let host: string;
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    host = u.hostname;
  } catch {
    throw new ConfigError(`--base-url ${baseUrl}: expected a URL starting with http:// or https://`);
  }
  const root = resolve(dir);
  const configFile = join(root, 'openfed.yaml');
  const dataDir = join(root, 'data');
  if (existsSync(configFile)) throw new ConfigError(`${configFile} already exists: not overwritten`);
  mkdirSync(root, { recursive: true });
  try {
    writeFileSync(configFile, starterConfig(baseUrl, dataDir), { flag: 'wx', mode: 0o640 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`${configFile} already exists: not overwritten`);
    throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = await loadSigningKey(undefined, dataDir, host, silentLogger);
  return {
    configFile,
    dataDir,
    signingCertificate: join(dataDir, 'keys', 'signing-cert.pem'),
    thumbprint: key.thumbprint,
    notAfter: key.notAfter.toISOString(),
    nextSteps: [
      `export OPENFED_CONFIG=${configFile}`,
      'openfed doctor            # check the configuration, directory, sessions and certificate',
      'npm start                 # sign in at the base URL as demo@openfed.test / OpenFed-Demo-1',
      'edit directory.ldap, sessions.redis and relyingParties for production, then run openfed doctor again',
    ],
  };
}

function renderInit(r: InitResult): string {
  return [
    `Created ${r.configFile}`,
    `Created token-signing certificate ${r.signingCertificate} (thumbprint ${r.thumbprint}, valid until ${r.notAfter})`,
    '',
    'Next steps:',
    ...r.nextSteps.map((s) => `  ${s}`),
    '',
  ].join('\n');
}

// -------------------------------------------------------------------------------------------- doctor

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
}
export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}


/** The token-signing key as the server would load it, without creating one. */
function readSigningKey(config: Config): Promise<SigningKey> | undefined {
  if (config.keys.signing) return loadSigningKey(config.keys.signing, config.dataDir, new URL(config.server.baseUrl).hostname, silentLogger);
  const keyPath = join(config.dataDir, 'keys', 'signing-key.pem');
  const certPath = join(config.dataDir, 'keys', 'signing-cert.pem');
  if (!existsSync(keyPath) && !existsSync(certPath)) return undefined;
  return Promise.resolve(fromPem(readFileSync(keyPath, 'utf8'), readFileSync(certPath, 'utf8'), 'generated'));
}

export async function runDoctor(env: Env, now: () => number = Date.now): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, status: CheckStatus, detail: string) => checks.push({ name, status, detail });
  let config: Config;
  try {
    config = loadConfig(env);
    add('configuration', 'OK', env.OPENFED_CONFIG ? `${env.OPENFED_CONFIG} is valid` : 'no OPENFED_CONFIG: defaults and environment');
  } catch (err) {
    add('configuration', 'FAIL', message(err));
    return { ok: false, checks };
  }

  // Directory: each DC on its own, so one dead DC shows even when the next one answers.
  const ldap = config.directory.ldap;
  if (!ldap) {
    add('directory', 'WARN', 'demo directory in use');
  } else {
    await Promise.all(
      ldap.urls.map(async (url) => {
        let ad: ActiveDirectory | undefined;
        try {
          ad = new ActiveDirectory({ ...ldap, urls: [url] }, silentLogger, { maxConcurrentBinds: 1 });
          const health = await ad.health();
          add(`directory ${url}`, health.ok ? 'OK' : 'FAIL', health.ok ? 'reachable, service account binds' : health.detail);
        } catch (err) {
          add(`directory ${url}`, 'FAIL', message(err));
        } finally {
          await ad?.close().catch(() => undefined);
        }
      }),
    );
    checks.sort((a, b) => (a.name.startsWith('directory ') && b.name.startsWith('directory ') ? ldap.urls.indexOf(a.name.slice(10)) - ldap.urls.indexOf(b.name.slice(10)) : 0));
  }

  // Sessions.
  if (!config.sessions.redis) {
    add('sessions', 'WARN', 'sessions in memory: one node only');
  } else {
    const stores = createStores(config, silentLogger);
    try {
      const health = await stores.sessions.health();
      add('sessions', health.ok ? 'OK' : 'FAIL', health.detail);
    } catch (err) {
      add('sessions', 'FAIL', message(err));
    } finally {
      await stores.close().catch(() => undefined);
    }
  }

  // Token-signing certificate.
  try {
    const loading = readSigningKey(config);
    if (!loading) {
      add('token-signing certificate', 'WARN', `none yet: a self-signed one is created in ${join(config.dataDir, 'keys')} on first start (or run openfed init)`);
    } else {
      const key = await loading;
      const days = Math.floor((key.notAfter.getTime() - now()) / DAY_MS);
      const detail = `${key.thumbprint}, ${days < 0 ? `expired ${-days} days ago` : `${days} days left`} (until ${key.notAfter.toISOString()})`;
      add('token-signing certificate', days < 7 ? 'FAIL' : days < 30 ? 'WARN' : 'OK', detail);
    }
  } catch (err) {
    add('token-signing certificate', 'FAIL', `unreadable: ${message(err)}`);
  }

  // Relying parties, as the server loads them (metadata files and URLs included).
  let registry: RelyingPartyRegistry | undefined;
  try {
    registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger);
    const saml = registry.all().length;
    const wsfed = config.wsfedRelyingParties.length;
    add('relying parties', 'OK', `${saml} SAML, ${wsfed} WS-Federation${config.microsoft365.enabled ? ', Microsoft 365 enabled' : ''}`);
  } catch (err) {
    add('relying parties', 'FAIL', message(err));
  } finally {
    registry?.close();
  }

  return { ok: checks.every((c) => c.status !== 'FAIL'), checks };
}

export function renderDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
  const fails = r.checks.filter((c) => c.status === 'FAIL').length;
  const warns = r.checks.filter((c) => c.status === 'WARN').length;
  lines.push('', fails ? `${fails} check(s) failed.` : warns ? `No failures, ${warns} warning(s).` : 'All checks passed.');
  return `${lines.join('\n')}\n`;
}

// ------------------------------------------------------------------------------------------- rp list

export interface RpListing {
  saml: Array<{
    entityId: string;
    name: string;
    source: 'metadata' | 'config' | 'microsoft365';
    acs: string[];
    slo: string[];
    requireSignedRequests: boolean;
    encryptAssertions: boolean;
  }>;
  wsfed: Array<{ realm: string; name: string; replyUrls: string[] }>;
  microsoft365: { enabled: false } | { enabled: true; realm: string; replyUrl: string; domains: string[] };
}

export async function listRelyingParties(config: Config): Promise<RpListing> {
  const registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger);
  try {
    const m365 = config.microsoft365;
    return {
      saml: registry.all().map((rp) => {
        const configured = config.relyingParties.find((c) => c.entityId === rp.entityId);
        const source = !configured ? 'microsoft365' : configured.metadata ? 'metadata' : 'config';
        return {
          entityId: rp.entityId,
          name: rp.displayName,
          source,
          acs: rp.acs.map((a) => a.url),
          slo: rp.slo.map((s) => s.url),
          requireSignedRequests: rp.requireSignedRequests,
          encryptAssertions: rp.encryptionCertificate !== undefined,
        };
      }),
      wsfed: config.wsfedRelyingParties.map((rp) => ({ realm: rp.realm, name: rp.name ?? rp.realm, replyUrls: [...rp.replyUrls] })),
      microsoft365: m365.enabled ? { enabled: true, realm: m365.realm, replyUrl: m365.replyUrl, domains: [...m365.domains] } : { enabled: false },
    };
  } finally {
    registry.close();
  }
}

export function renderRpList(l: RpListing): string {
  const lines: string[] = [`SAML 2.0 service providers (${l.saml.length}):`];
  for (const rp of l.saml) {
    lines.push(`  ${rp.entityId}${rp.name !== rp.entityId ? `  (${rp.name})` : ''}  [from ${rp.source}]`);
    lines.push(`    ACS:             ${rp.acs.join(', ') || '-'}`);
    lines.push(`    SLO:             ${rp.slo.join(', ') || '-'}`);
    lines.push(`    signed requests: ${rp.requireSignedRequests ? 'required' : 'not required'}`);
    lines.push(`    encryption:      ${rp.encryptAssertions ? 'assertions encrypted' : 'none'}`);
  }
  lines.push(`WS-Federation relying parties (${l.wsfed.length}):`);
  for (const rp of l.wsfed) {
    lines.push(`  ${rp.realm}${rp.name !== rp.realm ? `  (${rp.name})` : ''}`);
    lines.push(`    reply URLs:      ${rp.replyUrls.join(', ')}`);
  }
  lines.push(
    l.microsoft365.enabled
      ? `Microsoft 365: enabled (${l.microsoft365.realm}, reply ${l.microsoft365.replyUrl}; domains ${l.microsoft365.domains.join(', ')})`
      : 'Microsoft 365: not enabled',
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------- sessions revoke

export async function revokeSessions(config: Config, upn: string, by: string = userInfo().username): Promise<number> {
  if (!config.sessions.redis) {
    throw new ConfigError('sessions are in memory, inside the running server process: configure sessions.redis to revoke them from here (or restart the server)');
  }
  const stores = createStores(config, silentLogger);
  try {
    const ended = await stores.sessions.destroyForUser(upn);
    if (config.audit.file === undefined) mkdirSync(config.dataDir, { recursive: true }); // the trail lives there
    openAuditLog(config).record({ type: 'admin.change', command: 'sessions revoke', target: upn, by });
    return ended;
  } finally {
    await stores.close();
  }
}

// ------------------------------------------------------------------------------------------ commands

export function initCommand(): Command {
  return new Command('init')
    .description('write a starter openfed.yaml (demo directory, memory sessions) and create the token-signing key')
    .option('--dir <path>', 'where openfed.yaml and its data directory go', '.')
    .option('--base-url <url>', 'public URL of the federation service', 'http://localhost:8080')
    .option('--json', 'print what was made as JSON')
    .action(async (options: { dir: string; baseUrl: string; json?: boolean }) => {
      const result = await runInit(options.dir, options.baseUrl);
      if (options.json) printJson(result);
      else print(renderInit(result));
    });
}

export function doctorCommand(env: Env = process.env): Command {
  return new Command('doctor')
    .description('check the configuration, domain controllers, Redis, token-signing certificate and relying parties')
    .option('--json', 'print the checks as JSON')
    .action(async (options: { json?: boolean }) => {
      const report = await runDoctor(env);
      if (options.json) printJson(report);
      else print(renderDoctor(report));
      if (!report.ok) process.exitCode = 1;
    });
}

export function rpCommand(env: Env = process.env): Command {
  const command = new Command('rp').description('relying parties (SAML 2.0, WS-Federation, Microsoft 365)');
  command
    .command('list')
    .description('list the relying parties that may receive tokens, with their endpoints')
    .option('--json', 'print the list as JSON')
    .action(async (options: { json?: boolean }) => {
      const listing = await listRelyingParties(loadConfig(env));
      if (options.json) printJson(listing);
      else print(renderRpList(listing));
    });
  return command;
}

export function sessionsCommand(env: Env = process.env): Command {
  const command = new Command('sessions').description('single sign-on sessions (shared through Redis)');
  command
    .command('revoke')
    .description('end every SSO session of a user, on every node (audited)')
    .argument('<upn>', 'userPrincipalName of the user')
    .option('--json', 'print {"user": ..., "revoked": n}')
    .action(async (upn: string, options: { json?: boolean }) => {
      const revoked = await revokeSessions(loadConfig(env), upn);
      if (options.json) printJson({ user: upn, revoked });
      else print(`Ended ${revoked} SSO session${revoked === 1 ? '' : 's'} of ${upn}.\n`);
    });
  return command;
}
