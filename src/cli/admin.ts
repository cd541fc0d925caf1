/**
 * `openfed init` and `openfed sessions revoke <upn>`: setting up a first installation and ending a
 * user's SSO sessions. `openfed doctor` is in doctor.ts, `openfed rp ...` in rp.ts.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadSigningKey } from '../keys/signing-key.js';
import { silentLogger } from '../log.js';
import { openRedis } from '../redis/connection.js';
import { openAuditLog } from '../server.js';
import { createSessionStores } from '../sessions/index.js';

export type { CheckStatus, DoctorCheck, DoctorReport } from './doctor.js';
export type { RpListing } from './rp.js';

type Env = Record<string, string | undefined>;

const print = (text: string) => process.stdout.write(text);
const printJson = (value: unknown) => print(`${JSON.stringify(value, null, 2)}\n`);

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
      'openfed doctor            # again once it runs: the public metadata check needs the server up',
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

// ---------------------------------------------------------------------------------- sessions revoke

export async function revokeSessions(config: Config, upn: string, by: string = userInfo().username): Promise<number> {
  if (!config.sessions.redis) {
    throw new ConfigError('sessions are in memory, inside the running server process: configure sessions.redis to revoke them from here (or restart the server)');
  }
  const redis = openRedis(config.sessions.redis, silentLogger);
  try {
    const ended = await createSessionStores(redis, silentLogger).sessions.destroyForUser(upn);
    if (config.audit.file === undefined) mkdirSync(config.dataDir, { recursive: true }); // the trail lives there
    openAuditLog(config).record({ type: 'admin.change', command: 'sessions revoke', target: upn, by });
    return ended;
  } finally {
    await redis.close();
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
