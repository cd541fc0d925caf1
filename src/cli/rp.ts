/**
 * `openfed rp list|add|remove|refresh`: the relying-party trusts of a farm, as AD FS's
 * Get/Add/Remove-AdfsRelyingPartyTrust and Update-AdfsRelyingPartyTrust. Added relying parties and
 * fetched SP metadata go to the shared store (Redis, else <dataDir>/relying-parties.json), where every
 * node picks them up within relyingPartyRegistry.pollSeconds, without restart. Configured relying
 * parties stay the configuration file's: listed, refreshed, never removed from here.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import type { z } from 'zod';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { withBuiltInRelyingParties } from '../relying-parties/built-in.js';
import {
  loadConfigured,
  RelyingPartyConfigError,
  RelyingPartyRegistry,
  resolveRelyingParty,
  unverifiableSignedRequests,
  type RefreshResult,
} from '../relying-parties/registry.js';
import { NAME_ID_FORMATS, samlRelyingPartySchema, wsfedRelyingPartySchema } from '../relying-parties/schema.js';
import {
  decodeMetadata,
  fetchSpMetadata,
  isFetchableMetadataUrl,
  MAX_METADATA_BYTES,
  parseSpMetadata,
  soleEntityId,
  type SpMetadata,
} from '../relying-parties/sp-metadata.js';
import { encodeMetadataCopy, encodeRegistration, openRelyingPartyStore, type MetadataCopy } from '../relying-parties/store.js';
import { openAuditLog } from '../server.js';

type Env = Record<string, string | undefined>;

const print = (text: string) => process.stdout.write(text);
const printJson = (value: unknown) => print(`${JSON.stringify(value, null, 2)}\n`);
const DAY_MS = 86_400_000;

// ------------------------------------------------------------------------------------------- list

export interface CertificateInfo {
  use: 'signing' | 'encryption';
  subject: string;
  sha256: string;
  notAfter: string;
  daysLeft: number;
}

export interface RpListing {
  saml: Array<{
    entityId: string;
    name: string;
    /** config: endpoints in the configuration file; metadata: configured with SP metadata; added: `openfed rp add`. */
    source: 'config' | 'metadata' | 'added' | 'microsoft365';
    acs: string[];
    slo: string[];
    /** As enforced: the configuration's value, else the metadata's AuthnRequestsSigned, else false. */
    requireSignedRequests: boolean;
    /** Whether assertions are encrypted: encryptClaims on and an encryption certificate known. */
    encryptAssertions: boolean;
    certificates: CertificateInfo[];
    metadata?: { url?: string; file?: string; fetchedAt?: string; ageSeconds?: number; validUntil?: string };
    added?: { at: string; by: string };
  }>;
  wsfed: Array<{ realm: string; name: string; source: 'config' | 'added'; replyUrls: string[]; added?: { at: string; by: string } }>;
  microsoft365: { enabled: false } | { enabled: true; realm: string; replyUrl: string; domains: string[] };
  /** Where added relying parties live. */
  store: 'redis' | 'file';
}

/** The registry as a node would load it, without fetching: configuration, metadata files and the shared store. */
async function offlineRegistry(config: Config): Promise<RelyingPartyRegistry> {
  return RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger, { store: openRelyingPartyStore(config, silentLogger), offline: true });
}

function certificateInfo(use: CertificateInfo['use'], cert: X509Certificate, now: number): CertificateInfo {
  const notAfter = new Date(cert.validTo);
  return {
    use,
    subject: cert.subject.replace(/\n/g, ', '),
    sha256: cert.fingerprint256,
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now) / DAY_MS),
  };
}

export async function listRelyingParties(config: Config, now: () => number = Date.now): Promise<RpListing> {
  const registry = await offlineRegistry(config);
  try {
    const m365 = config.microsoft365;
    const at = now();
    return {
      saml: registry.status().map(({ rp, origin, metadata, added }) => {
        const configured = config.relyingParties.some((c) => c.entityId === rp.entityId);
        const source = origin === 'added' ? 'added' : !configured ? 'microsoft365' : metadata ? 'metadata' : 'config';
        return {
          entityId: rp.entityId,
          name: rp.displayName,
          source,
          acs: rp.acs.map((a) => a.url),
          slo: rp.slo.map((s) => s.url),
          requireSignedRequests: rp.requireSignedRequests,
          encryptAssertions: rp.encryptClaims && rp.encryptionCertificate !== undefined,
          certificates: [
            ...rp.signingCertificates.map((c) => certificateInfo('signing', c, at)),
            ...(rp.encryptionCertificate ? [certificateInfo('encryption', rp.encryptionCertificate, at)] : []),
          ],
          ...(metadata
            ? {
                metadata: {
                  ...(metadata.url !== undefined ? { url: metadata.url } : {}),
                  ...(metadata.file !== undefined ? { file: metadata.file } : {}),
                  ...(metadata.fetchedAt !== undefined
                    ? { fetchedAt: new Date(metadata.fetchedAt).toISOString(), ageSeconds: Math.max(0, Math.round((at - metadata.fetchedAt) / 1000)) }
                    : {}),
                  ...(metadata.validUntil ? { validUntil: metadata.validUntil.toISOString() } : {}),
                },
              }
            : {}),
          ...(added ? { added } : {}),
        };
      }),
      wsfed: registry.wsfedStatus().map(({ config: rp, origin, added }) => ({
        realm: rp.realm,
        name: rp.name ?? rp.realm,
        source: origin,
        replyUrls: [...rp.replyUrls],
        ...(added ? { added } : {}),
      })),
      microsoft365: m365.enabled ? { enabled: true, realm: m365.realm, replyUrl: m365.replyUrl, domains: [...m365.domains] } : { enabled: false },
      store: config.sessions.redis ? 'redis' : 'file',
    };
  } finally {
    await registry.close();
  }
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86_400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

function signedRequests(rp: RpListing['saml'][number]): string {
  if (!rp.requireSignedRequests) return 'not required';
  if (!rp.certificates.some((c) => c.use === 'signing')) return 'required, but no signing certificate is known: every request is refused';
  return 'required';
}

function encryption(rp: RpListing['saml'][number]): string {
  if (rp.encryptAssertions) return 'assertions encrypted';
  // The certificate is listed below; say why it is not used, or the listing reads as a contradiction.
  return rp.certificates.some((c) => c.use === 'encryption') ? 'none (encryptClaims is false)' : 'none';
}

export function renderRpList(l: RpListing): string {
  const lines: string[] = [`SAML 2.0 service providers (${l.saml.length}):`];
  for (const rp of l.saml) {
    lines.push(`  ${rp.entityId}${rp.name !== rp.entityId ? `  (${rp.name})` : ''}  [from ${rp.source}]`);
    lines.push(`    ACS:             ${rp.acs.join(', ') || '-'}`);
    lines.push(`    SLO:             ${rp.slo.join(', ') || '-'}`);
    lines.push(`    signed requests: ${signedRequests(rp)}`);
    lines.push(`    encryption:      ${encryption(rp)}`);
    for (const c of rp.certificates) {
      const state = c.daysLeft < 0 ? `EXPIRED ${-c.daysLeft} days ago` : `${c.daysLeft} days left`;
      lines.push(`    ${`${c.use} cert:`.padEnd(17)}${c.subject}, until ${c.notAfter} (${state})`);
    }
    if (rp.metadata) {
      const where = rp.metadata.url ?? rp.metadata.file ?? '';
      const when = rp.metadata.ageSeconds !== undefined ? `fetched ${age(rp.metadata.ageSeconds)} ago` : 'no copy yet';
      lines.push(`    metadata:        ${where} (${when}${rp.metadata.validUntil ? `, valid until ${rp.metadata.validUntil}` : ''})`);
    }
    if (rp.added) lines.push(`    added:           ${rp.added.at} by ${rp.added.by}`);
  }
  lines.push(`WS-Federation relying parties (${l.wsfed.length}):`);
  for (const rp of l.wsfed) {
    lines.push(`  ${rp.realm}${rp.name !== rp.realm ? `  (${rp.name})` : ''}  [from ${rp.source}]`);
    lines.push(`    reply URLs:      ${rp.replyUrls.join(', ')}`);
    if (rp.added) lines.push(`    added:           ${rp.added.at} by ${rp.added.by}`);
  }
  lines.push(
    l.microsoft365.enabled
      ? `Microsoft 365: enabled (${l.microsoft365.realm}, reply ${l.microsoft365.replyUrl}; domains ${l.microsoft365.domains.join(', ')})`
      : 'Microsoft 365: not enabled',
  );
  return `${lines.join('\n')}\n`;
}

// -------------------------------------------------------------------------------------------- add

export interface AddOptions {
  wsfed?: boolean;
  entityId?: string;
  name?: string;
  metadataUrl?: string;
  metadataFile?: string;
  metadataSigningCert?: string;
  refreshMinutes?: string;
  acsUrl?: string[];
  sloUrl?: string[];
  signingCert?: string[];
  encryptionCert?: string;
  /** false: --no-encrypt-claims. */
  encryptClaims?: boolean;
  nameIdFormat?: string;
  nameIdSource?: string;
  attribute?: string[];
  signAssertion?: boolean;
  signResponse?: boolean;
  /** undefined: as the SP metadata's AuthnRequestsSigned says. */
  requireSignedRequests?: boolean;
  allowUnsignedLogout?: boolean;
  allowIdpInitiated?: boolean;
  lifetimeMinutes?: string;
  signatureAlgorithm?: string;
  realm?: string;
  replyUrl?: string[];
  tokenType?: string;
  claim?: string[];
}

export interface AddResult {
  protocol: 'saml2' | 'wsfed';
  id: string;
  name: string;
  store: 'redis' | 'file';
  endpoints: string[];
  metadata?: { source: string; detail: string };
  /** Added, but something the admin should fix (e.g. it must sign and no certificate can verify it). */
  warnings?: string[];
}

/** Which command-line option a schema path came from, so a refusal names what the admin typed. */
const OPTION_OF: ReadonlyArray<[RegExp, string]> = [
  [/^entityId\b/, '--entity-id'],
  [/^name\b/, '--name'],
  [/^metadata\.url\b/, '--metadata-url'],
  [/^metadata\.file\b/, '--metadata-file'],
  [/^metadata\.refreshMinutes\b/, '--refresh-minutes'],
  [/^metadata\b/, '--metadata-url/--metadata-file'],
  [/^assertionConsumerServices\b/, '--acs-url'],
  [/^singleLogoutServices\b/, '--slo-url'],
  [/^(nameId\.format|nameIdentifier\.format)\b/, '--name-id-format'],
  [/^(nameId\.source|nameIdentifier\.source)\b/, '--name-id-source'],
  [/^attributes\b/, '--attribute'],
  [/^(assertionLifetimeMinutes|tokenLifetimeMinutes)\b/, '--lifetime-minutes'],
  [/^signatureAlgorithm\b/, '--signature-algorithm'],
  [/^realm\b/, '--realm'],
  [/^replyUrls\b/, '--reply-url'],
  [/^tokenType\b/, '--token-type'],
  [/^claims\b/, '--claim'],
];

function refusal(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  if (!issue) return new ConfigError('relying party refused');
  const path = issue.path.join('.');
  const option = OPTION_OF.find(([pattern]) => pattern.test(path))?.[1];
  // A failed refine on the whole object (e.g. no signature at all) has no path: its message says it.
  return new ConfigError(option ? `${option}: ${issue.message}` : `relying party refused: ${issue.message}`);
}

/** A certificate file (PEM or DER), stored inline as PEM: other nodes do not have the admin's files. */
function readCertificate(path: string, option: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${option} ${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return new X509Certificate(bytes).toString();
  } catch {
    throw new ConfigError(`${option} ${path}: not a PEM or DER certificate`);
  }
}

function integer(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value)) throw new ConfigError(`${option}: expected a whole number, got ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

/** name=source pairs (--attribute, --claim). The name may itself contain '=' only before the last one. */
function pairs(values: string[] | undefined, option: string): Array<[string, string]> {
  return (values ?? []).map((value) => {
    const at = value.lastIndexOf('=');
    if (at <= 0 || at === value.length - 1) throw new ConfigError(`${option} ${JSON.stringify(value.slice(0, 80))}: expected <name>=<source>, e.g. upn or attribute:department`);
    return [value.slice(0, at), value.slice(at + 1)];
  });
}

function checkMetadataUrl(url: string): void {
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw new ConfigError(`--metadata-url ${JSON.stringify(url.slice(0, 200))}: not a URL`);
  }
  if (scheme !== 'https:' && scheme !== 'http:') throw new ConfigError(`--metadata-url: the ${scheme}// scheme is not allowed; expected an https:// URL`);
  if (!isFetchableMetadataUrl(url)) throw new ConfigError('--metadata-url: expected an https:// URL (http:// only to localhost, and no user:password@)');
}

/** Reads SP metadata from where the admin pointed, under the same limits as the server. */
async function readMetadata(options: AddOptions): Promise<{ xml: string; source: string }> {
  if (options.metadataUrl !== undefined) {
    checkMetadataUrl(options.metadataUrl);
    try {
      return { xml: await fetchSpMetadata(options.metadataUrl, globalThis.fetch), source: options.metadataUrl };
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      const reason = (error as Error).name === 'TimeoutError' ? 'timed out' : cause instanceof Error ? `${(error as Error).message}: ${cause.message}` : (error as Error).message;
      throw new ConfigError(`--metadata-url ${options.metadataUrl}: ${reason}`);
    }
  }
  const file = resolve(options.metadataFile ?? '');
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new ConfigError(`--metadata-file ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (size > MAX_METADATA_BYTES) throw new ConfigError(`--metadata-file ${file}: larger than ${MAX_METADATA_BYTES} bytes`);
  try {
    return { xml: decodeMetadata(readFileSync(file)), source: file };
  } catch (error) {
    throw new ConfigError(`--metadata-file ${file}: ${(error as Error).message}`);
  }
}

function samlInput(options: AddOptions, entityId: string): Record<string, unknown> {
  const input: Record<string, unknown> = { entityId };
  if (options.name !== undefined) input.name = options.name;
  if (options.metadataUrl !== undefined || options.metadataFile !== undefined) {
    input.metadata = {
      ...(options.metadataUrl !== undefined ? { url: options.metadataUrl } : { file: resolve(options.metadataFile ?? '') }),
      ...(options.metadataSigningCert !== undefined ? { signingCertificate: readCertificate(options.metadataSigningCert, '--metadata-signing-cert') } : {}),
      ...(options.refreshMinutes !== undefined ? { refreshMinutes: integer(options.refreshMinutes, '--refresh-minutes') } : {}),
    };
  }
  if (options.acsUrl?.length) input.assertionConsumerServices = options.acsUrl.map((url, i) => ({ url, index: i, isDefault: i === 0 }));
  if (options.sloUrl?.length) input.singleLogoutServices = options.sloUrl.map((url) => ({ url }));
  if (options.signingCert?.length) input.signingCertificates = options.signingCert.map((f) => readCertificate(f, '--signing-cert'));
  if (options.encryptionCert !== undefined) input.encryptionCertificate = readCertificate(options.encryptionCert, '--encryption-cert');
  if (options.encryptClaims === false) input.encryptClaims = false;
  if (options.nameIdFormat !== undefined || options.nameIdSource !== undefined) {
    input.nameId = {
      ...(options.nameIdFormat !== undefined ? { format: options.nameIdFormat } : {}),
      ...(options.nameIdSource !== undefined ? { source: options.nameIdSource } : {}),
    };
  }
  if (options.attribute?.length) input.attributes = pairs(options.attribute, '--attribute').map(([name, source]) => ({ name, source }));
  if (options.signAssertion === false) input.signAssertion = false;
  if (options.signResponse) input.signResponse = true;
  // Only an explicit flag is stored: without one, the SP's metadata keeps deciding, refresh after refresh.
  if (options.requireSignedRequests !== undefined) input.requireSignedRequests = options.requireSignedRequests;
  if (options.allowUnsignedLogout) input.allowUnsignedLogout = true;
  if (options.allowIdpInitiated) input.allowIdpInitiated = true;
  if (options.lifetimeMinutes !== undefined) input.assertionLifetimeMinutes = integer(options.lifetimeMinutes, '--lifetime-minutes');
  if (options.signatureAlgorithm !== undefined) input.signatureAlgorithm = options.signatureAlgorithm;
  return input;
}

function wsfedInput(options: AddOptions): Record<string, unknown> {
  const input: Record<string, unknown> = { realm: options.realm, replyUrls: options.replyUrl ?? [] };
  if (options.name !== undefined) input.name = options.name;
  if (options.tokenType !== undefined) input.tokenType = options.tokenType;
  if (options.nameIdFormat !== undefined || options.nameIdSource !== undefined) {
    input.nameIdentifier = {
      ...(options.nameIdSource !== undefined ? { source: options.nameIdSource } : {}),
      ...(options.nameIdFormat !== undefined ? { format: options.nameIdFormat } : {}),
    };
  }
  if (options.claim?.length) input.claims = pairs(options.claim, '--claim').map(([type, source]) => ({ type, source }));
  if (options.lifetimeMinutes !== undefined) input.tokenLifetimeMinutes = integer(options.lifetimeMinutes, '--lifetime-minutes');
  if (options.signatureAlgorithm !== undefined) input.signatureAlgorithm = options.signatureAlgorithm;
  return input;
}

const SAML_ONLY: ReadonlyArray<keyof AddOptions> = [
  'entityId', 'metadataUrl', 'metadataFile', 'metadataSigningCert', 'refreshMinutes', 'acsUrl', 'sloUrl', 'signingCert', 'encryptionCert',
  'encryptClaims', 'attribute', 'signResponse', 'requireSignedRequests', 'allowUnsignedLogout', 'allowIdpInitiated',
];
const WSFED_ONLY: ReadonlyArray<keyof AddOptions> = ['realm', 'replyUrl', 'tokenType', 'claim'];
const flag = (key: keyof AddOptions) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export async function addRelyingParty(config: Config, options: AddOptions, by: string = userInfo().username, now: () => number = Date.now): Promise<AddResult> {
  const given = (key: keyof AddOptions) => options[key] !== undefined && !(Array.isArray(options[key]) && options[key].length === 0);
  const misplaced = (options.wsfed ? SAML_ONLY : WSFED_ONLY).find(given);
  // Named as typed: a false boolean came from its --no- form.
  const typed = (key: keyof AddOptions) => (options[key] === false ? flag(key).replace(/^--/, '--no-') : flag(key));
  if (misplaced) throw new ConfigError(`${typed(misplaced)} is for ${options.wsfed ? 'SAML 2.0 relying parties (drop --wsfed)' : 'WS-Federation relying parties (add --wsfed)'}`);

  let protocol: AddResult['protocol'];
  let id: string;
  let input: Record<string, unknown>;
  let copy: MetadataCopy | undefined;
  let metadata: SpMetadata | undefined;
  const warnings: string[] = [];
  if (options.wsfed) {
    if (!options.realm) throw new ConfigError('--realm is required with --wsfed');
    if (!options.replyUrl?.length) throw new ConfigError('--reply-url is required with --wsfed (where tokens may be posted)');
    protocol = 'wsfed';
    input = wsfedInput(options);
    const parsed = wsfedRelyingPartySchema.safeParse(input);
    if (!parsed.success) throw refusal(parsed.error);
    id = parsed.data.realm;
  } else {
    protocol = 'saml2';
    if (options.metadataUrl !== undefined && options.metadataFile !== undefined) throw new ConfigError('give --metadata-url or --metadata-file, not both');
    const fromMetadata = options.metadataUrl !== undefined || options.metadataFile !== undefined;
    if (!fromMetadata && !options.entityId) throw new ConfigError('--entity-id is required (or import it with --metadata-url / --metadata-file)');
    if (!fromMetadata && !options.acsUrl?.length) throw new ConfigError('--acs-url is required without metadata: where the SP receives its tokens');
    if (!fromMetadata && (options.metadataSigningCert !== undefined || options.refreshMinutes !== undefined)) {
      throw new ConfigError('--metadata-signing-cert and --refresh-minutes need --metadata-url or --metadata-file');
    }
    let xml: string | undefined;
    let source = '';
    if (fromMetadata) {
      ({ xml, source } = await readMetadata(options));
    }
    let entityId = options.entityId;
    if (entityId === undefined && xml !== undefined) {
      try {
        entityId = soleEntityId(xml);
      } catch (error) {
        throw new ConfigError(`${options.metadataUrl !== undefined ? '--metadata-url' : '--metadata-file'}: ${(error as Error).message}`);
      }
      if (!entityId) throw new ConfigError('the metadata describes several entities (or none): name the SP with --entity-id');
    }
    input = samlInput(options, entityId ?? '');
    const parsed = samlRelyingPartySchema.safeParse(input);
    if (!parsed.success) throw refusal(parsed.error);
    id = parsed.data.entityId;
    let configured;
    try {
      configured = loadConfigured(parsed.data, 'relying party', silentLogger, { now });
    } catch (error) {
      if (error instanceof RelyingPartyConfigError) throw new ConfigError(error.message.replace(/^configuration key relying party\.?/, 'relying party '));
      throw error;
    }
    if (xml !== undefined) {
      try {
        metadata = parseSpMetadata(xml, {
          entityId: id,
          now: now(),
          ...(configured.metadataSigner ? { signingCertificate: configured.metadataSigner } : {}),
        });
      } catch (error) {
        throw new ConfigError(`${options.metadataUrl !== undefined ? '--metadata-url' : '--metadata-file'}: ${(error as Error).message}`);
      }
      copy = { xml, fetchedAt: now(), source };
    }
    const problem = unverifiableSignedRequests(resolveRelyingParty(configured, metadata));
    if (problem) warnings.push(`${id} ${problem} until its metadata or --signing-cert gives a signing certificate (or it is added with --no-require-signed-requests)`);
  }

  const store = openRelyingPartyStore(config, silentLogger);
  const registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger, { store, offline: true });
  try {
    if (registry.isConfigured(id)) throw new ConfigError(`${JSON.stringify(id)} is already a relying party in the configuration file`);
    if (registry.has(id)) throw new ConfigError(`${JSON.stringify(id)} is already a relying party (added earlier: see openfed rp list)`);
    const encoded = encodeRegistration(protocol === 'saml2' ? 'saml' : 'wsfed', input, by, new Date(now()));
    if (!(await store.addRegistration(id, encoded, copy ? encodeMetadataCopy(copy) : undefined))) {
      throw new ConfigError(`${JSON.stringify(id)} is already a relying party (added earlier: see openfed rp list)`);
    }
  } finally {
    await registry.close();
  }
  audit(config, 'rp add', id, by);

  const endpoints =
    protocol === 'wsfed'
      ? (options.replyUrl ?? [])
      : options.acsUrl?.length
        ? options.acsUrl
        : (metadata?.acs.map((a) => a.url) ?? []);
  return {
    protocol,
    id,
    name: options.name ?? id,
    store: config.sessions.redis ? 'redis' : 'file',
    endpoints,
    ...(copy && metadata ? { metadata: { source: copy.source, detail: describeImport(metadata) } } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
}

function describeImport(m: SpMetadata): string {
  const parts = `${m.acs.length} ACS, ${m.slo.length} SLO, ${m.signingCertificates.length} signing and ${m.encryptionCertificates.length} encryption certificate(s)`;
  return m.authnRequestsSigned ? `${parts}, AuthnRequestsSigned` : parts;
}

function audit(config: Config, command: string, target: string, by: string): void {
  if (config.audit.file === undefined) mkdirSync(config.dataDir, { recursive: true }); // the trail lives there
  openAuditLog(config).record({ type: 'admin.change', command, target, by });
}

// ----------------------------------------------------------------------------------------- remove

export async function removeRelyingParty(config: Config, id: string, by: string = userInfo().username): Promise<void> {
  const store = openRelyingPartyStore(config, silentLogger);
  const registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger, { store, offline: true });
  try {
    if (registry.isConfigured(id)) {
      throw new ConfigError(`${JSON.stringify(id)} comes from the configuration file${process.env.OPENFED_CONFIG ? ` (${process.env.OPENFED_CONFIG})` : ''}: remove it there and restart, not with openfed rp remove`);
    }
    if (!(await store.removeRegistration(id))) throw new ConfigError(`no relying party ${JSON.stringify(id)} was added with openfed rp add (see openfed rp list)`);
  } finally {
    await registry.close();
  }
  audit(config, 'rp remove', id, by);
}

// ---------------------------------------------------------------------------------------- refresh

export async function refreshRelyingParties(config: Config, id: string | undefined, by: string = userInfo().username): Promise<RefreshResult[]> {
  const registry = await RelyingPartyRegistry.create(withBuiltInRelyingParties(config), silentLogger, { store: openRelyingPartyStore(config, silentLogger), offline: true });
  let results: RefreshResult[];
  try {
    if (id !== undefined) {
      const known = registry.status().find((s) => s.rp.entityId === id);
      if (!known) throw new ConfigError(`no SAML relying party ${JSON.stringify(id)} (see openfed rp list)`);
      if (known.metadata?.url === undefined) throw new ConfigError(`${JSON.stringify(id)} has no metadata URL to fetch (imported from a file or configured by hand)`);
    }
    results = await registry.refreshNow(id === undefined ? undefined : [id]);
  } finally {
    await registry.close();
  }
  for (const r of results) if (r.ok) audit(config, 'rp refresh', r.entityId, by);
  return results;
}

// --------------------------------------------------------------------------------------- commands

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function rpCommand(env: Env = process.env): Command {
  const command = new Command('rp').description('relying parties (SAML 2.0, WS-Federation, Microsoft 365), shared by every node');
  command
    .command('list')
    .description('list the relying parties that may receive tokens: source, endpoints, certificate expiry, metadata age')
    .option('--json', 'print the list as JSON')
    .action(async (options: { json?: boolean }) => {
      const listing = await listRelyingParties(loadConfig(env));
      if (options.json) printJson(listing);
      else print(renderRpList(listing));
    });

  command
    .command('add')
    .description('add a relying party for every node, without restart (audited), like Add-AdfsRelyingPartyTrust')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  openfed rp add --metadata-url https://sp.contoso.com/Shibboleth.sso/Metadata --name Wiki',
        '  openfed rp add --metadata-file sp.xml --require-signed-requests',
        '  openfed rp add --entity-id https://app.contoso.com --acs-url https://app.contoso.com/acs --signing-cert app.pem',
        '  openfed rp add --wsfed --realm urn:contoso:app --reply-url https://app.contoso.com/signin-wsfed --claim http://schemas.xmlsoap.org/claims/UPN=upn',
        '',
      ].join('\n'),
    )
    .option('--wsfed', 'a WS-Federation relying party (--realm, --reply-url) instead of a SAML 2.0 SP')
    .option('--name <name>', 'display name')
    .option('--entity-id <id>', 'SAML: the SP entityID (read from the metadata when omitted)')
    .option('--metadata-url <url>', 'SAML: import from SP metadata at this https:// URL, fetched again every --refresh-minutes')
    .option('--metadata-file <file>', 'SAML: import from an SP metadata file (once)')
    .option('--metadata-signing-cert <file>', 'SAML: require the metadata to be signed with this certificate')
    .option('--refresh-minutes <n>', 'SAML: how often the metadata URL is fetched again (default 60)')
    .option('--acs-url <url>', 'SAML: assertion consumer service URL (repeatable; the first is the default)', collect)
    .option('--slo-url <url>', 'SAML: single logout URL (repeatable)', collect)
    .option('--signing-cert <file>', 'SAML: certificate that verifies the SP\'s signed requests (repeatable)', collect)
    .option('--encryption-cert <file>', 'SAML: encrypt assertions to this certificate (instead of the one in metadata)')
    .option('--no-encrypt-claims', 'SAML: never encrypt assertions, even with an encryption certificate (AD FS -EncryptClaims $false)')
    .option('--name-id-format <format>', `SAML: NameID format (${NAME_ID_FORMATS.join(', ')}); WS-Fed: NameIdentifier format URI`)
    .option('--name-id-source <source>', 'where the NameID / NameIdentifier comes from (upn, mail, immutableId, attribute:<AD attribute>, ...)')
    .option('--attribute <name=source>', 'SAML: release an attribute (repeatable), e.g. http://schemas.xmlsoap.org/claims/Group=groups', collect)
    .option('--no-sign-assertion', 'SAML: do not sign the Assertion (then --sign-response is needed)')
    .option('--sign-response', 'SAML: sign the Response')
    .option('--require-signed-requests', 'SAML: refuse AuthnRequests not signed with a --signing-cert (default: as the metadata\'s AuthnRequestsSigned)')
    .option('--no-require-signed-requests', 'SAML: accept unsigned AuthnRequests even when the metadata says AuthnRequestsSigned="true"')
    .option('--allow-unsigned-logout', 'SAML: accept unsigned LogoutRequests')
    .option('--allow-idp-initiated', 'SAML: list on the IdP-initiated sign-on page')
    .option('--lifetime-minutes <n>', 'assertion / token lifetime (default 60)')
    .addOption(new Option('--signature-algorithm <alg>', 'RSA-SHA256, or SHA-1 for RPs that need it').choices(['sha256', 'sha1']))
    .option('--realm <realm>', 'WS-Fed: the wtrealm')
    .option('--reply-url <url>', 'WS-Fed: where tokens may be posted (repeatable; the first is the default)', collect)
    .addOption(new Option('--token-type <type>', 'WS-Fed: SAML 1.1 or SAML 2.0 assertions').choices(['saml11', 'saml2']))
    .option('--claim <type=source>', 'WS-Fed: release a claim (repeatable), e.g. http://schemas.xmlsoap.org/claims/UPN=upn', collect)
    .option('--json', 'print what was added as JSON')
    .action(async (options: AddOptions & { json?: boolean }) => {
      const { json, ...add } = options;
      if (add.nameIdFormat !== undefined && !add.wsfed && !(NAME_ID_FORMATS as readonly string[]).includes(add.nameIdFormat)) {
        throw new ConfigError(`--name-id-format: expected one of ${NAME_ID_FORMATS.join(', ')}`);
      }
      // commander sets the negatable default itself: only an explicit --no-sign-assertion / --no-encrypt-claims counts.
      // (--require-signed-requests has both forms declared, so commander leaves it undefined unless one is given.)
      if (add.signAssertion === true) delete add.signAssertion;
      if (add.encryptClaims === true) delete add.encryptClaims;
      const result = await addRelyingParty(loadConfig(env), add);
      if (json) printJson(result);
      else {
        print(`Added ${result.protocol === 'wsfed' ? 'WS-Federation relying party' : 'SAML 2.0 service provider'} ${result.id} (${result.store === 'redis' ? 'Redis: every node' : 'data directory'}).\n`);
        if (result.metadata) print(`Metadata from ${result.metadata.source}: ${result.metadata.detail}.\n`);
        if (result.endpoints.length) print(`Tokens go to: ${result.endpoints.join(', ')}\n`);
        for (const warning of result.warnings ?? []) process.stderr.write(`openfed: warning: ${warning}\n`);
      }
    });

  command
    .command('remove')
    .description('remove a relying party added with openfed rp add, on every node (audited)')
    .argument('<id>', 'entityID (SAML) or realm (WS-Fed)')
    .option('--json', 'print {"removed": id}')
    .action(async (id: string, options: { json?: boolean }) => {
      await removeRelyingParty(loadConfig(env), id);
      if (options.json) printJson({ removed: id });
      else print(`Removed ${id}.\n`);
    });

  command
    .command('refresh')
    .description('fetch SP metadata now (every metadata-URL relying party, or one) and share it with every node (audited)')
    .argument('[id]', 'entityID of one SP')
    .option('--json', 'print the results as JSON')
    .action(async (id: string | undefined, options: { json?: boolean }) => {
      const results = await refreshRelyingParties(loadConfig(env), id);
      if (options.json) printJson(results);
      else if (results.length === 0) print('No relying party imports metadata from a URL.\n');
      else for (const r of results) print(`${r.ok ? 'OK  ' : 'FAIL'}  ${r.entityId}  ${r.detail}\n`);
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
  return command;
}
