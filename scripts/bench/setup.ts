/**
 * What the bench runs OpenFed with: one SAML SP and one WS-Fed RP (nothing is ever posted to them:
 * the bench reads the tokens out of the auto-POST page), a demo user shaped like an AD user, Redis
 * sessions, and no throttling or lockout that could distort a rate.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.js';
import { hashPassword } from '../../src/directory/demo.js';
import type { PemPair } from './processes.js';
import type { Machine } from './report.js';

export const SP_ENTITY_ID = 'urn:openfed:bench:sp';
export const SP_ACS = 'https://sp.bench.test/saml/acs';
export const WSFED_REALM = 'urn:openfed:bench:wsfed';
export const WSFED_REPLY = 'https://rp.bench.test/wsfed';
export const IDENTIFIER = 'http://sts.bench.test/adfs/services/trust';
export const SSO_PATH = '/adfs/ls/';
export const METADATA_PATHS = ['/FederationMetadata/2007-06/FederationMetadata.xml', '/federationmetadata/2007-06/federationmetadata.xml'];
export const DEMO_UPN = 'bench.user@openfed.test';
export const DEMO_PASSWORD = 'Bench-Passw0rd!';

export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

export function machine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpuModel: model.trim(),
    cores: cpus().length,
    node: process.version,
    loadAverage: loadavg(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

/** A demo user shaped like an AD user: five groups with SIDs, display name, mail. */
export async function writeDemoUsers(file: string): Promise<void> {
  const sid = (rid: number) => `S-1-5-21-1004336348-1177238915-682003330-${rid}`;
  const groups = ['Domain Users', 'Staff', 'Finance', 'VPN Users', 'Office 365 Licensed'].map((name, i) => ({ name, sid: sid(1100 + i) }));
  const user = {
    userPrincipalName: DEMO_UPN,
    sAMAccountName: 'bench.user',
    passwordHash: await hashPassword(DEMO_PASSWORD),
    objectGuid: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
    mail: DEMO_UPN,
    displayName: 'Bench User',
    givenName: 'Bench',
    sn: 'User',
    groups,
  };
  writeFileSync(file, JSON.stringify({ users: [user] }), { mode: 0o600 });
}

export interface Setup {
  dir: string;
  port: number;
  redisUrl: string;
  keyPrefix: string;
  signing: PemPair;
  sp: PemPair;
  /** server.workers; undefined for a build without cluster mode */
  workers?: number | 'auto';
  csrfSecret: string;
}

export function openfedConfig(s: Setup, directory: ConfigInput['directory']): ConfigInput {
  const name = s.keyPrefix.replace(/:$/, '');
  const server = {
    baseUrl: `http://127.0.0.1:${s.port}`,
    identifier: IDENTIFIER,
    host: '127.0.0.1',
    port: s.port,
    shutdownGraceMs: 1000,
    // Only when this build has cluster mode: an older schema refuses unknown keys.
    ...(s.workers !== undefined ? { workers: s.workers } : {}),
  };
  const claims = [
    { type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' },
    { type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', source: 'displayName' },
    { type: 'http://schemas.xmlsoap.org/claims/Group', source: 'groups' },
  ] as const;
  return {
    server,
    dataDir: join(s.dir, `data-${name}`),
    directory,
    sessions: { redis: { url: s.redisUrl, keyPrefix: s.keyPrefix } },
    keys: { signing: { keyFile: s.signing.keyFile, certFile: s.signing.certFile } },
    web: { csrfSecret: s.csrfSecret },
    relyingParties: [
      {
        entityId: SP_ENTITY_ID,
        name: 'Bench SP',
        assertionConsumerServices: [{ url: SP_ACS, binding: 'post', isDefault: true }],
        // Registered so --signed-requests can sign; unsigned requests are allowed for the default run.
        signingCertificates: [s.sp.certPem],
        requireSignedRequests: false,
        nameId: { format: 'persistent' },
        attributes: claims.map((c) => ({ name: c.type, source: c.source })),
      },
    ],
    wsfedRelyingParties: [{ realm: WSFED_REALM, name: 'Bench RP', replyUrls: [WSFED_REPLY], claims: claims.map((c) => ({ ...c })) }],
    // Neither may distort a sign-in rate: the bench signs in thousands of times from one address.
    lockout: { mode: 'off', perAddress: { attempts: 0 } },
    audit: { file: join(s.dir, `audit-${name}.log`) },
    log: { level: 'warn' },
  };
}
