/**
 * `openfed doctor`: one report on an installation before (and while) it serves users — configuration,
 * each DC (reachable, the service account binds, its clock), Kerberos when configured (the addon, the
 * keytab, its key version against the DC's), Redis (reachable, its clock), the token-signing
 * certificate, the relying parties, and the federation metadata as relying parties fetch it from the
 * public URL. Non-zero exit on any FAIL.
 */
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { Command } from 'commander';
import { loadKerberosAddon, type AddonLoad } from '../authn/kerberos-addon.js';
import { describeDataDir, loadConfigWithOrigins } from '../config/load.js';
import { federationIdentifier, type Config } from '../config/schema.js';
import { ActiveDirectory } from '../directory/active-directory.js';
import { readPublishedKeys, type PublishedKey } from '../keys/published.js';
import { domainLockoutRisk, thresholdAdvice, type DomainLockoutPolicy } from '../lockout/domain-policy.js';
import { silentLogger } from '../log.js';
import { withBuiltInRelyingParties } from '../relying-parties/built-in.js';
import { RelyingPartyRegistry } from '../relying-parties/registry.js';
import { openRelyingPartyStore } from '../relying-parties/store.js';
import { openRedis } from '../redis/connection.js';
import { ROUTES } from '../web/route-paths.js';
import { XmlError } from '../xml/errors.js';
import { parseXml } from '../xml/parse.js';
import { attribute } from '../xml/query.js';
import { verifySignedRoot } from '../xml/verify.js';
import { enctypeName, isAesEnctype, KeytabFormatError, parseKeytab, type KeytabEntry } from './keytab.js';

type Env = Record<string, string | undefined>;

const DAY_MS = 86_400_000;
/** Clock offsets: Kerberos tolerates 5 minutes by default, SAML validity windows about as much. */
export const CLOCK_WARN_MS = 60_000;
export const CLOCK_FAIL_MS = 5 * 60_000;
const METADATA_TIMEOUT_MS = 10_000;
const MAX_METADATA_BYTES = 1_048_576;

const message = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0] ?? 'unknown error';

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

/**
 * A remote clock against ours: the remote reading is compared with the middle of the round trip.
 * `resolutionMs` is how coarse the remote clock reads (AD: whole seconds, truncated).
 */
async function clockCheck(name: string, read: () => Promise<number>, now: () => number, resolutionMs = 0, kerberos = false): Promise<DoctorCheck> {
  try {
    const before = now();
    const remote = (await read()) + resolutionMs / 2;
    const after = now();
    const offset = remote - (before + after) / 2;
    const abs = Math.abs(offset);
    const detail = `${offset >= 0 ? 'ahead of' : 'behind'} this machine by ${(abs / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
    // The DC is the KDC: past its 5-minute skew, GSSAPI refuses every ticket (KRB_AP_ERR_SKEW).
    const what = kerberos ? 'Kerberos tickets are refused, sign-ins and tokens fail' : 'sign-ins and tokens fail';
    if (abs > CLOCK_FAIL_MS) return { name, status: 'FAIL', detail: `${detail}: more than 5 minutes, ${what} (sync time with NTP)` };
    if (abs > CLOCK_WARN_MS) return { name, status: 'WARN', detail: `${detail}: more than 1 minute (sync time with NTP)` };
    return { name, status: 'OK', detail };
  } catch (err) {
    return { name, status: 'FAIL', detail: `time not readable: ${message(err)}` };
  }
}

export interface MetadataFetchOptions {
  /**
   * PEM certificates trusted for the metadata URL besides the public CAs (`openfed doctor --ca-file`):
   * a lab or an internal PKI whose CA this machine's Node does not know.
   */
  ca?: string;
}

/** Certificate errors that mean "not trusted here", as opposed to a broken connection. */
const TLS_TRUST_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);
const MAX_REDIRECTS = 5;

/**
 * The trust store for --ca-file: a `ca` option replaces Node's default one, so the public CAs and
 * NODE_EXTRA_CA_CERTS (which Node otherwise adds by itself) are put back beside the given bundle.
 */
function trustedCas(extra: string): string[] {
  const cas = [...rootCertificates, extra];
  const extraFile = process.env.NODE_EXTRA_CA_CERTS;
  if (extraFile) {
    try {
      cas.push(readFileSync(extraFile, 'utf8'));
    } catch {
      // As Node does with an unreadable NODE_EXTRA_CA_CERTS: go on without it.
    }
  }
  return cas;
}

/**
 * GET as a relying party fetches metadata: redirects followed, a time limit for the whole exchange and
 * a size limit (body undefined past it). node:https rather than fetch, which takes no CA in Node 20.
 */
async function getMetadata(url: string, ca: string | undefined, signal = AbortSignal.timeout(METADATA_TIMEOUT_MS), redirects = 0): Promise<{ status: number; body?: Buffer }> {
  const target = new URL(url);
  const get = target.protocol === 'https:' ? httpsGet : httpGet;
  const response = await new Promise<{ status: number; location?: string; body?: Buffer }>((resolve, reject) => {
    const request = get(
      target,
      {
        headers: { accept: 'application/samlmetadata+xml' },
        ...(target.protocol === 'https:' && ca !== undefined ? { ca: trustedCas(ca) } : {}),
        signal,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          res.resume();
          resolve({ status, location: res.headers.location });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_METADATA_BYTES) {
            res.destroy();
            resolve({ status });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
        res.on('error', (err: Error) => reject(timedOut(err, signal)));
      },
    );
    request.on('error', (err: Error) => reject(timedOut(err, signal)));
  });
  if (response.status >= 300 && response.status < 400 && response.location && redirects < MAX_REDIRECTS) {
    return getMetadata(new URL(response.location, target).toString(), ca, signal, redirects + 1);
  }
  return response;
}

/** The error of a request the time limit ended, as one code. */
function timedOut(err: Error, signal: AbortSignal): Error {
  return signal.aborted ? Object.assign(new Error(`no answer within ${METADATA_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' }) : err;
}

/**
 * What a relying party sees at the public metadata URL: reachable, well-formed, signed with a
 * certificate of the current key set, describing our entityID.
 */
export async function publicMetadataCheck(config: Config, keys: readonly PublishedKey[], options: MetadataFetchOptions = {}): Promise<DoctorCheck> {
  const url = `${config.server.baseUrl.replace(/\/+$/, '')}${ROUTES.federationMetadata}`;
  const name = 'public metadata';
  const fail = (detail: string): DoctorCheck => ({ name, status: 'FAIL', detail: `${url}: ${detail}` });
  let xml: string;
  try {
    const response = await getMetadata(url, options.ca);
    if (response.status < 200 || response.status > 299) return fail(`unexpected HTTP ${response.status}`);
    if (response.body === undefined) return fail(`larger than ${MAX_METADATA_BYTES} bytes`);
    xml = response.body.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') return fail(`unreachable (no answer within ${METADATA_TIMEOUT_MS / 1000} s)`);
    const untrusted = code !== undefined && TLS_TRUST_ERRORS.has(code);
    const hint = untrusted ? (options.ca === undefined ? ': a private CA? give it with --ca-file' : ': not issued by the --ca-file CA or a public one') : '';
    return fail(`unreachable (${code ?? message(err)}${hint})`);
  }

  let entityId: string | undefined;
  let signedBy = '';
  try {
    if (keys.length > 0) {
      const verified = verifySignedRoot(xml, { certificates: keys.map((k) => k.certificate), maxBytes: MAX_METADATA_BYTES });
      entityId = attribute(verified.root, 'entityID');
      const signer = keys.find((k) => k.certificate.fingerprint256 === verified.certificate.fingerprint256);
      signedBy = signer ? `the ${signer.role} certificate ${signer.thumbprint}` : '';
    } else {
      const root = parseXml(xml, { maxBytes: MAX_METADATA_BYTES }).documentElement;
      entityId = root ? attribute(root, 'entityID') : undefined;
    }
  } catch (err) {
    if (err instanceof XmlError && err.code === 'untrusted_key') {
      return fail(`signed with a certificate that is not in the current key set (${keys.map((k) => k.thumbprint).join(', ')}): another server, or an old key`);
    }
    if (err instanceof XmlError) return fail(`not acceptable metadata (${err.code}: ${err.message})`);
    return fail(message(err));
  }
  const expected = federationIdentifier(config);
  if (entityId !== expected) return fail(`entityID ${JSON.stringify(entityId ?? null)} is not this federation service's ${JSON.stringify(expected)}`);
  if (keys.length === 0) return { name, status: 'WARN', detail: `${url}: reachable, entityID matches; signature not checked (no token-signing key here)` };
  return { name, status: 'OK', detail: `${url}: reachable, signed by ${signedBy}, entityID ${expected}` };
}

export async function runDoctor(env: Env, now: () => number = Date.now, options: MetadataFetchOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, status: CheckStatus, detail: string) => checks.push({ name, status, detail });
  let config: Config;
  try {
    const loaded = loadConfigWithOrigins(env);
    config = loaded.config;
    add('configuration', 'OK', env.OPENFED_CONFIG ? `${env.OPENFED_CONFIG} is valid` : 'no OPENFED_CONFIG: defaults and environment');
    // The environment winning over the file is the documented order, but easy to miss: a WARN, not a FAIL.
    add('data directory', loaded.dataDir.overriddenFileValue === undefined ? 'OK' : 'WARN', describeDataDir(config.dataDir, loaded.dataDir));
  } catch (err) {
    add('configuration', 'FAIL', message(err));
    return { ok: false, checks };
  }

  // Directory: each DC on its own, so one dead DC shows even when the next one answers; its clock too.
  const ldap = config.directory.ldap;
  if (!ldap) {
    add('directory', 'WARN', 'demo directory in use');
  } else {
    const perDc = await Promise.all(
      ldap.urls.map(async (url): Promise<DoctorCheck[]> => {
        let ad: ActiveDirectory | undefined;
        try {
          ad = new ActiveDirectory({ ...ldap, urls: [url] }, silentLogger, { maxConcurrentBinds: 1 });
          const health = await ad.health();
          if (!health.ok) return [{ name: `directory ${url}`, status: 'FAIL', detail: health.detail }];
          const dc = ad;
          return [
            { name: `directory ${url}`, status: 'OK', detail: 'reachable, service account binds' },
            await clockCheck(`clock vs ${url}`, async () => (await dc.currentTime()).time.getTime(), now, 1000, config.kerberos.enabled),
          ];
        } catch (err) {
          return [{ name: `directory ${url}`, status: 'FAIL', detail: message(err) }];
        } finally {
          await ad?.close().catch(() => undefined);
        }
      }),
    );
    checks.push(...perDc.flat());
  }

  // AD changes passwords only over an encrypted connection: say so here, not to a user at the page.
  if (ldap) {
    const support = new ActiveDirectory(ldap, silentLogger, { maxConcurrentBinds: 1 }).passwordChangeSupport();
    add('password change', support.available ? 'OK' : 'WARN', support.available ? 'the change-password page changes passwords over TLS' : support.detail);
  }

  // Extranet lockout must trip before AD's own lockout, or an attacker still locks the account.
  if (ldap) {
    let ad: ActiveDirectory | undefined;
    try {
      ad = new ActiveDirectory(ldap, silentLogger, { maxConcurrentBinds: 1 });
      const { domain, threshold } = await ad.domainLockoutThreshold();
      checks.push(lockoutPolicyCheck(config.lockout, { domain, threshold }));
    } catch (err) {
      add('extranet lockout', 'WARN', `cannot read the domain's lockout policy: ${message(err)}`);
    } finally {
      await ad?.close().catch(() => undefined);
    }
  }

  if (config.kerberos.enabled) {
    const spnHolders: SpnLookup | undefined = ldap
      ? async (spn) => {
          const ad = new ActiveDirectory(ldap, silentLogger, { maxConcurrentBinds: 1 });
          try {
            return await ad.servicePrincipalHolders(spn);
          } finally {
            await ad.close().catch(() => undefined);
          }
        }
      : undefined;
    checks.push(...(await kerberosChecks(config.kerberos, spnHolders)));
  }

  // Sessions, and Redis's clock (replay windows and session expiry are kept there).
  if (!config.sessions.redis) {
    add('sessions', 'WARN', 'sessions in memory: one node only');
  } else {
    const redis = openRedis(config.sessions.redis, silentLogger);
    try {
      const health = await redis.health();
      add('sessions', health.ok ? 'OK' : 'FAIL', health.detail);
      if (health.ok) checks.push(await clockCheck('clock vs redis', () => redis.serverTime(), now));
    } catch (err) {
      add('sessions', 'FAIL', message(err));
    } finally {
      await redis.close().catch(() => undefined);
    }
  }

  // Token-signing certificates: the published ones (the key set, or keys.signing), else the single-key files.
  let published: PublishedKey[] | undefined;
  try {
    published = await readPublishedKeys(config);
    if (published.length === 0) {
      add('token-signing certificate', 'WARN', `none yet: a self-signed one is created in ${join(config.dataDir, 'keys')} on first start (or run openfed init)`);
    }
    for (const key of published) {
      const notAfter = new Date(key.certificate.validTo);
      const days = Math.floor((notAfter.getTime() - now()) / DAY_MS);
      const detail = `${key.thumbprint}, ${days < 0 ? `expired ${-days} days ago` : `${days} days left`} (until ${notAfter.toISOString()})`;
      // Only the primary signs: a next certificate close to expiry is a warning, never a failure.
      const status: CheckStatus = days < 7 ? (key.role === 'primary' ? 'FAIL' : 'WARN') : days < 30 ? 'WARN' : 'OK';
      add(key.role === 'primary' ? 'token-signing certificate' : 'token-signing certificate (next)', status, detail);
    }
  } catch (err) {
    add('token-signing certificate', 'FAIL', `unreadable: ${message(err)}`);
  }

  // Relying parties, as a node loads them: configuration, metadata files, and the shared store.
  let registry: RelyingPartyRegistry | undefined;
  try {
    registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger, { store: openRelyingPartyStore(config, silentLogger), offline: true });
    const saml = registry.status();
    const wsfed = registry.wsfed().length;
    const added = saml.filter((s) => s.origin === 'added').length + registry.wsfedStatus().filter((s) => s.origin === 'added').length;
    add('relying parties', 'OK', `${saml.length} SAML, ${wsfed} WS-Federation${added ? ` (${added} added with openfed rp add)` : ''}${config.microsoft365.enabled ? ', Microsoft 365 enabled' : ''}`);
  } catch (err) {
    add('relying parties', 'FAIL', message(err));
  } finally {
    await registry?.close();
  }

  checks.push(await publicMetadataCheck(config, published ?? [], options));

  return { ok: checks.every((c) => c.status !== 'FAIL'), checks };
}

/**
 * lockout.threshold against the domain's lockoutThreshold (AD FS: ExtranetLockoutThreshold below the AD
 * threshold). Familiar and unknown addresses are counted separately, so twice the threshold must stay
 * below the domain's (lockout/domain-policy.ts). Enforce with one counter alone reaching it fails: AD
 * locks the account first whatever the user's address.
 */
export function lockoutPolicyCheck(lockout: Pick<Config['lockout'], 'mode' | 'threshold'>, domain: DomainLockoutPolicy): DoctorCheck {
  const name = 'extranet lockout';
  const t = lockout.threshold;
  const ours = `lockout.threshold ${t}`;
  const theirs = `the lockoutThreshold of ${domain.domain} (${domain.threshold})`;
  if (lockout.mode === 'off') return { name, status: 'WARN', detail: `off: nothing keeps password guessing from the internet from locking AD accounts (${theirs})` };
  switch (domainLockoutRisk(t, domain.threshold)) {
    case 'never':
      return { name, status: 'OK', detail: `${lockout.mode}, ${ours}; the domain itself never locks accounts (lockoutThreshold 0)` };
    case 'one-counter':
      return {
        name,
        status: lockout.mode === 'enforce' ? 'FAIL' : 'WARN',
        detail: `${ours} is not below ${theirs}: AD locks the account before OpenFed refuses; ${thresholdAdvice(domain.threshold)}`,
      };
    case 'both-counters':
      return {
        name,
        status: 'WARN',
        detail:
          `${ours} counts unknown and familiar addresses separately: ${2 * t} bad passwords can reach AD, ` +
          `not below ${theirs}, so AD can still lock the account; ${thresholdAdvice(domain.threshold)}`,
      };
    case 'safe':
      return { name, status: 'OK', detail: `${lockout.mode}, ${ours}: twice it (unknown and familiar addresses) is below ${theirs}` };
  }
}

/** The accounts holding an SPN, from the DC (ActiveDirectory.servicePrincipalHolders). */
export type SpnLookup = (spn: string) => Promise<{ url: string; holders: { dn: string; account: string | undefined; keyVersion: number | undefined }[] }>;

type KerberosSettings = Pick<Config['kerberos'], 'servicePrincipal' | 'keytab' | 'realm'>;

/**
 * Windows Integrated Authentication, as a ticket from a browser will meet it: the addon loads, the
 * keytab holds the configured principal's keys, and those keys are the ones the KDC encrypts tickets
 * with now (the keytab's kvno is the SPN holder's msDS-KeyVersionNumber). `spnHolders` is undefined
 * with the demo directory. The clock is checked with each DC above.
 */
export async function kerberosChecks(kerberos: KerberosSettings, spnHolders: SpnLookup | undefined, loadAddon: () => Promise<AddonLoad> = loadKerberosAddon): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const addon = await loadAddon();
  checks.push(
    addon.ok
      ? { name: 'kerberos addon', status: 'OK', detail: 'loaded (MIT GSSAPI)' }
      : { name: 'kerberos addon', status: 'FAIL', detail: `${addon.reason}: browsers get the forms page, Integrated Authentication is off` },
  );

  const { servicePrincipal, keytab, realm } = kerberos;
  // The schema requires all three once kerberos.enabled; a caller passing less has nothing to check.
  if (servicePrincipal === undefined || keytab === undefined || realm === undefined) return checks;
  const keytabCheck = checkKeytab(keytab, `${servicePrincipal}@${realm}`);
  checks.push(keytabCheck.check);
  if (keytabCheck.keys.length === 0) return checks;

  checks.push(await keyVersionCheck(servicePrincipal, keytabCheck.keys, spnHolders));
  return checks;
}

/** The keytab file against the configured principal; `keys` are that principal's entries. */
export function checkKeytab(path: string, principal: string): { check: DoctorCheck; keys: KeytabEntry[] } {
  const name = 'kerberos keytab';
  const fail = (detail: string) => ({ check: { name, status: 'FAIL' as const, detail: `${path}: ${detail}` }, keys: [] });
  let entries: KeytabEntry[];
  try {
    entries = parseKeytab(readFileSync(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail('missing (kerberos.keytab)');
    if (code === 'EACCES') return fail(`not readable by this user (uid ${process.getuid?.() ?? '?'}): OpenFed reads it at every Kerberos sign-in`);
    if (err instanceof KeytabFormatError) return fail(`not a keytab: ${err.message}`);
    return fail(`unreadable: ${message(err)}`);
  }
  const keys = entries.filter((e) => e.principal === principal);
  if (keys.length === 0) {
    const held = [...new Set(entries.map((e) => e.principal))];
    // MIT compares principal names byte for byte: http/... or contoso.com@... find no key.
    const nearly = held.find((p) => p.toLowerCase() === principal.toLowerCase());
    if (nearly) return fail(`holds ${nearly}, not ${principal}: Kerberos names are case-sensitive`);
    return fail(held.length === 0 ? `holds no keys (expected ${principal})` : `no key for ${principal}; it holds ${held.join(', ')}`);
  }
  const newest = Math.max(...keys.map((k) => k.kvno));
  const current = keys.filter((k) => k.kvno === newest);
  const enctypes = current.map((k) => enctypeName(k.enctype)).join(', ');
  const detail = `${path}: ${principal}, kvno ${newest} (${enctypes})`;
  // AD issues AES tickets only to accounts whose msDS-SupportedEncryptionTypes allows them; a keytab of
  // RC4 keys alone still works where RC4 is allowed, but Windows is phasing it out.
  if (!current.some((k) => isAesEnctype(k.enctype))) {
    return { check: { name, status: 'WARN', detail: `${detail}: no AES key (set msDS-SupportedEncryptionTypes to 24 on the account, then export the keytab again)` }, keys };
  }
  return { check: { name, status: 'OK', detail }, keys };
}

async function keyVersionCheck(spn: string, keys: readonly KeytabEntry[], spnHolders: SpnLookup | undefined): Promise<DoctorCheck> {
  const name = 'kerberos key version';
  if (!spnHolders) return { name, status: 'WARN', detail: 'demo directory: no DC to compare the keytab with' };
  let found: Awaited<ReturnType<SpnLookup>>;
  try {
    found = await spnHolders(spn);
  } catch (err) {
    return { name, status: 'FAIL', detail: `cannot look ${spn} up: ${message(err)}` };
  }
  const { url, holders } = found;
  const [holder, ...more] = holders;
  if (!holder) return { name, status: 'FAIL', detail: `no account on ${url} has the SPN ${spn}: browsers get no ticket for it (setspn -S ${spn} <service account>)` };
  if (more.length > 0) {
    return { name, status: 'FAIL', detail: `${holders.length} accounts have the SPN ${spn} (${holders.map((h) => h.dn).join('; ')}): the KDC refuses a duplicate SPN (setspn -X lists them)` };
  }
  const account = holder.account ?? holder.dn;
  const kvnos = [...new Set(keys.map((k) => k.kvno))].sort((a, b) => a - b);
  if (holder.keyVersion === undefined) return { name, status: 'WARN', detail: `${holder.dn}: msDS-KeyVersionNumber not readable by the service account; keytab kvno ${kvnos.join(', ')}` };
  const dcKvno = holder.keyVersion;
  // A keytab without the 32-bit field keeps only the kvno's low 8 bits, and MIT matches on those.
  const matches = kvnos.some((v) => v === dcKvno || (v < 256 && v === dcKvno % 256));
  if (matches) return { name, status: 'OK', detail: `keytab kvno ${dcKvno} is ${account}'s msDS-KeyVersionNumber on ${url}` };
  return {
    name,
    status: 'FAIL',
    detail:
      `keytab kvno ${kvnos.join(', ')}, but ${account}'s msDS-KeyVersionNumber on ${url} is ${dcKvno}: its password changed after the ` +
      'keytab was made, so no ticket decrypts (export the keytab again: ktpass, or samba-tool domain exportkeytab)',
  };
}

export function renderDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
  const fails = r.checks.filter((c) => c.status === 'FAIL').length;
  const warns = r.checks.filter((c) => c.status === 'WARN').length;
  lines.push('', fails ? `${fails} check(s) failed.` : warns ? `No failures, ${warns} warning(s).` : 'All checks passed.');
  return `${lines.join('\n')}\n`;
}

export function doctorCommand(env: Env = process.env): Command {
  return new Command('doctor')
    .description('check the configuration, domain controllers, Kerberos (when enabled), Redis, clocks, token-signing certificate, relying parties and public metadata')
    .option('--json', 'print the checks as JSON')
    .option('--ca-file <pem>', 'trust this CA bundle (PEM) too when fetching the public metadata: a lab or internal PKI')
    .action(async (options: { json?: boolean; caFile?: string }) => {
      const ca = options.caFile === undefined ? undefined : readCaFile(options.caFile);
      const report = await runDoctor(env, Date.now, { ca });
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(renderDoctor(report));
      if (!report.ok) process.exitCode = 1;
    });
}

/** A usage mistake, so one `openfed: …` line rather than a FAIL among the checks. */
function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--ca-file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? message(err)})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--ca-file ${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
  return pem;
}
