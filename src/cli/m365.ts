/**
 * `openfed m365 settings` and `openfed m365 verify`: what a Microsoft Entra ID admin needs to federate
 * a domain with OpenFed (Microsoft Graph internalDomainFederation, federation reference §1c), and a
 * check of what Entra will see when it reads our federation metadata.
 *
 * Pure where it can be: settings are built from config + key, rendered by plain functions, and the
 * verifier takes its fetch and clock as arguments, so tests need no network of their own.
 */
import { X509Certificate } from 'node:crypto';
import { Command, Option } from 'commander';
import { systemClock, type Clock } from '../clock.js';
import { microsoft365Issuer } from '../claims/microsoft365.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { federationIdentifier, type Config } from '../config/schema.js';
import { readPublishedKeys } from '../keys/published.js';
import type { SigningKey } from '../keys/signing-key.js';
import { ELEMENT_NODE } from '../xml/query.js';
import { attribute, NS, parseXml, requiredChild, textOf, verifySignedRoot, XmlError, type Element, type Node } from '../xml/index.js';
import { InternalError } from '../errors.js';
import { SOAP_NS, WS_TRUST_PATHS, type WsTrustVersion } from '../protocols/wstrust/constants.js';
import { MEX_NS, mexUsernameEndpoints } from '../protocols/wstrust/mex.js';
import { readinessCommand } from './m365-readiness.js';

export type Protocol = 'wsfed' | 'saml';

/** The certificate fields the commands read; `SigningKey` fits. */
export type CertificateInfo = Pick<SigningKey, 'certificateBase64' | 'thumbprint' | 'notAfter'>;

/** Everything federating one domain needs, in Graph's property names. */
export interface M365Settings {
  domain: string;
  displayName: string;
  issuerUri: string;
  passiveSignInUri: string;
  /**
   * WS-Fed with wsTrust.enabled only: the WS-Trust 2005 usernamemixed endpoint, as AD FS and Entra
   * conventionally use (for SAML, Entra expects an ECP endpoint here).
   */
  activeSignInUri?: string;
  /** With activeSignInUri: the WS-MetadataExchange document rich clients read to find both versions. */
  metadataExchangeUri?: string;
  signOutUri: string;
  signingCertificate: string;
  signingCertificateThumbprint: string;
  signingCertificateNotAfter: string;
  nextSigningCertificate?: string;
  preferredAuthenticationProtocol: 'wsFed' | 'saml';
  federatedIdpMfaBehavior: 'acceptIfMfaDoneByFederatedIdp';
  promptLoginBehavior?: 'translateToFreshPasswordAuthentication';
  /** Caveats the admin must read before applying the settings. */
  notes: string[];
}

export const PATHS = {
  passive: '/adfs/ls/',
  signOut: '/adfs/ls/?wa=wsignout1.0',
  active: WS_TRUST_PATHS.usernameMixed['2005'],
  mex: WS_TRUST_PATHS.mex,
  metadata: '/FederationMetadata/2007-06/FederationMetadata.xml',
  probe: '/adfs/probe',
} as const;

const WS_TRUST_OFF_NOTE =
  'wsTrust.enabled is false: activeSignInUri and metadataExchangeUri are left out, so rich clients that sign in with WS-Trust ' +
  "(Office before the 2015 modern-authentication update, basic-auth Exchange clients, MSAL's username-password flow) cannot sign in.";
const WS_TRUST_HTTP_NOTE =
  'server.baseUrl is not https: rich clients drop http WS-Trust addresses from the metadata exchange document (MSAL keeps only https ones) ' +
  'and the WS-Trust endpoints answer only over HTTPS, so activeSignInUri works only once OpenFed is reached over https.';
const SAML_ACTIVE_NOTE =
  'For SAML, Entra ID uses activeSignInUri for an ECP endpoint, which OpenFed does not serve: activeSignInUri and metadataExchangeUri are left out.';

/** The domain as configured (case-insensitive match), or a one-line ConfigError naming the configured ones. */
export function configuredDomain(config: Config, domain: string): string {
  const wanted = domain.trim().toLowerCase();
  const found = config.microsoft365.domains.find((d) => d.toLowerCase() === wanted);
  if (found !== undefined) return found.toLowerCase();
  const configured = config.microsoft365.domains;
  throw new ConfigError(
    `domain ${domain} is not in microsoft365.domains (configured: ${configured.length > 0 ? configured.join(', ') : 'none'})`,
  );
}

export function baseUrlOf(config: Config): string {
  return config.server.baseUrl.replace(/\/+$/, '');
}

export function buildM365Settings(
  config: Config,
  key: CertificateInfo,
  options: { domain: string; protocol?: Protocol; displayName?: string; nextKey?: Pick<CertificateInfo, 'certificateBase64'> },
): M365Settings {
  const domain = configuredDomain(config, options.domain);
  const protocol = options.protocol ?? 'wsfed';
  const base = baseUrlOf(config);
  const wsfed = protocol === 'wsfed';
  const active = wsfed && config.wsTrust.enabled;
  const notes: string[] = [];
  if (!config.microsoft365.enabled) notes.push('microsoft365.enabled is false: OpenFed refuses Microsoft 365 sign-ins until it is set to true.');
  if (!wsfed) notes.push(SAML_ACTIVE_NOTE);
  else if (!config.wsTrust.enabled) notes.push(WS_TRUST_OFF_NOTE);
  else if (new URL(base).protocol !== 'https:') notes.push(WS_TRUST_HTTP_NOTE);
  if (config.microsoft365.supportMultipleDomain) {
    notes.push(`supportMultipleDomain: tokens for ${domain} (and its subdomains) carry the per-domain issuer; every federated domain needs its own configuration.`);
  }
  return {
    domain,
    displayName: options.displayName ?? `OpenFed ${new URL(base).hostname}`,
    issuerUri: microsoft365Issuer(config.microsoft365, federationIdentifier(config), domain),
    passiveSignInUri: `${base}${PATHS.passive}`,
    ...(active ? { activeSignInUri: `${base}${PATHS.active}`, metadataExchangeUri: `${base}${PATHS.mex}` } : {}),
    // Entra sends SAML sign-out as a Redirect-binding LogoutRequest, which the bare passive endpoint takes.
    signOutUri: wsfed ? `${base}${PATHS.signOut}` : `${base}${PATHS.passive}`,
    signingCertificate: key.certificateBase64,
    signingCertificateThumbprint: key.thumbprint,
    signingCertificateNotAfter: key.notAfter.toISOString(),
    ...(options.nextKey ? { nextSigningCertificate: options.nextKey.certificateBase64 } : {}),
    preferredAuthenticationProtocol: wsfed ? 'wsFed' : 'saml',
    federatedIdpMfaBehavior: 'acceptIfMfaDoneByFederatedIdp',
    ...(wsfed ? { promptLoginBehavior: 'translateToFreshPasswordAuthentication' as const } : {}),
    notes,
  };
}

/** Body of POST https://graph.microsoft.com/v1.0/domains/{id}/federationConfiguration: Graph's fields only. */
export function graphBody(s: M365Settings): Record<string, string> {
  const body: Record<string, string | undefined> = {
    '@odata.type': '#microsoft.graph.internalDomainFederation',
    displayName: s.displayName,
    issuerUri: s.issuerUri,
    passiveSignInUri: s.passiveSignInUri,
    activeSignInUri: s.activeSignInUri,
    metadataExchangeUri: s.metadataExchangeUri,
    signOutUri: s.signOutUri,
    signingCertificate: s.signingCertificate,
    nextSigningCertificate: s.nextSigningCertificate,
    preferredAuthenticationProtocol: s.preferredAuthenticationProtocol,
    federatedIdpMfaBehavior: s.federatedIdpMfaBehavior,
    promptLoginBehavior: s.promptLoginBehavior,
  };
  return Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => e[1] !== undefined));
}

/** A PowerShell single-quoted literal: nothing inside is expanded; a quote (any of PowerShell's four) is doubled. */
export function psQuote(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, '$&$&')}'`;
}

function psParams(params: ReadonlyArray<readonly [string, string | undefined]>): string {
  return params
    .filter((p): p is readonly [string, string] => p[1] !== undefined)
    .map(([name, value]) => `-${name} ${psQuote(value)}`)
    .join(' ');
}

/** One line, so a copy-paste cannot break on a trailing space after a backtick. */
export function newFederationCommand(s: M365Settings): string {
  return `New-MgDomainFederationConfiguration ${psParams([
    ['DomainId', s.domain],
    ['DisplayName', s.displayName],
    ['IssuerUri', s.issuerUri],
    ['PassiveSignInUri', s.passiveSignInUri],
    ['ActiveSignInUri', s.activeSignInUri],
    ['MetadataExchangeUri', s.metadataExchangeUri],
    ['SignOutUri', s.signOutUri],
    ['SigningCertificate', s.signingCertificate],
    ['NextSigningCertificate', s.nextSigningCertificate],
    ['PreferredAuthenticationProtocol', s.preferredAuthenticationProtocol],
    ['FederatedIdpMfaBehavior', s.federatedIdpMfaBehavior],
    ['PromptLoginBehavior', s.promptLoginBehavior],
  ])}`;
}

/** For certificate changes on an already federated domain; the id is looked up inline. */
export function updateCertificateCommand(s: M365Settings): string {
  const id = `(Get-MgDomainFederationConfiguration -DomainId ${psQuote(s.domain)}).Id`;
  return (
    `Update-MgDomainFederationConfiguration -DomainId ${psQuote(s.domain)} -InternalDomainFederationId ${id} ` +
    psParams([
      ['SigningCertificate', s.signingCertificate],
      ['NextSigningCertificate', s.nextSigningCertificate],
    ])
  );
}

export function renderSettings(s: M365Settings): string {
  const lines = [
    `# Microsoft 365 / Entra ID federation of ${s.domain} with OpenFed`,
    '#',
    `#   issuerUri                        ${s.issuerUri}`,
    `#   passiveSignInUri                 ${s.passiveSignInUri}`,
    ...(s.activeSignInUri ? [`#   activeSignInUri                  ${s.activeSignInUri}  (WS-Trust 2005 usernamemixed)`] : []),
    ...(s.metadataExchangeUri ? [`#   metadataExchangeUri              ${s.metadataExchangeUri}  (WS-MetadataExchange: lists WS-Trust 1.3 and 2005)`] : []),
    `#   signOutUri                       ${s.signOutUri}`,
    `#   signingCertificate               thumbprint ${s.signingCertificateThumbprint}, valid until ${s.signingCertificateNotAfter}`,
    `#   nextSigningCertificate           ${s.nextSigningCertificate ? 'present' : 'none (no next key yet)'}`,
    `#   preferredAuthenticationProtocol  ${s.preferredAuthenticationProtocol}`,
    `#   federatedIdpMfaBehavior          ${s.federatedIdpMfaBehavior} (recommended)`,
    ...(s.promptLoginBehavior ? [`#   promptLoginBehavior              ${s.promptLoginBehavior}`] : []),
    '#',
    ...s.notes.map((n) => `# Note: ${n}`),
    '',
    '# (a) Microsoft Graph PowerShell: federate the domain (a verified, managed domain; not *.onmicrosoft.com)',
    `Connect-MgGraph -Scopes ${psQuote('Domain-InternalFederation.ReadWrite.All')}`,
    newFederationCommand(s),
    '',
    `# (b) Microsoft Graph: POST https://graph.microsoft.com/v1.0/domains/${s.domain}/federationConfiguration`,
    JSON.stringify(graphBody(s), null, 2),
    '',
    '# (c) Certificate change on the federated domain (rollover, new key):',
    updateCertificateCommand(s),
    '',
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// verify

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface Check {
  name: string;
  status: CheckStatus;
  reason: string;
}

export interface VerifyReport {
  domain: string;
  url: string;
  metadataUrl: string;
  /** The issuer Entra must have as this domain's issuerUri. */
  issuerUri: string;
  ok: boolean;
  checks: Check[];
}

export interface VerifyInput {
  config: Config;
  domain: string;
  /** The configured token-signing certificate. */
  key: CertificateInfo;
  /** Where OpenFed is reached; default config.server.baseUrl. */
  url?: string;
  fetch?: typeof fetch;
  clock?: Clock;
  timeoutMs?: number;
  maxBytes?: number;
}

const DAY_MS = 86_400_000;
/** Entra fetches a new certificate 30 ([GRAPH-IDF]) or 35 ([E-CERTS]) days before expiry. */
export const CERT_FAIL_DAYS = 30;
export const CERT_WARN_DAYS = 35;
export const CLOCK_WARN_MS = 5 * 60_000;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 1_048_576;

class FetchFailure extends InternalError {}

interface Fetched {
  status: number;
  date: string | null;
  contentType: string | null;
  /** Where a redirect not followed (a POST's) points. */
  location: string | null;
  body: Buffer;
}

interface FetchRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

async function fetchCapped(fetchFn: typeof fetch, url: string, timeoutMs: number, maxBytes: number, request: FetchRequest = {}): Promise<Fetched> {
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: request.method ?? 'GET',
      ...(request.headers ? { headers: request.headers } : {}),
      ...(request.body !== undefined ? { body: request.body } : {}),
      // A followed redirect turns a POST into a GET: report it instead.
      redirect: request.method === 'POST' ? 'manual' : 'follow',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new FetchFailure(describeFetchError(error, timeoutMs));
  }
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchFailure(`response is ${declared} bytes, more than the ${maxBytes}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new FetchFailure(`response is more than the ${maxBytes}-byte limit`);
        }
        chunks.push(Buffer.from(value));
      }
    } catch (error) {
      if (error instanceof FetchFailure) throw error;
      throw new FetchFailure(describeFetchError(error, timeoutMs));
    }
  }
  return {
    status: res.status,
    date: res.headers.get('date'),
    contentType: res.headers.get('content-type'),
    location: res.headers.get('location'),
    body: Buffer.concat(chunks),
  };
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = err.cause?.code ?? err.cause?.message;
  return cause ? `${err.message} (${cause})` : err.message;
}

/** Every ds:X509Certificate in the document: the candidates the signature is tried with. */
function carriedCertificates(root: Element): { certificates: X509Certificate[]; base64: string[] } {
  const seen = new Set<string>();
  const certificates: X509Certificate[] = [];
  const stack: Node[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.nodeType !== ELEMENT_NODE) continue;
    const el = node as Element;
    if (el.namespaceURI === NS.ds && el.localName === 'X509Certificate') {
      let b64: string;
      try {
        b64 = textOf(el).replace(/\s+/g, '');
      } catch {
        continue;
      }
      if (seen.has(b64)) continue;
      seen.add(b64);
      try {
        certificates.push(new X509Certificate(Buffer.from(b64, 'base64')));
      } catch {
        // Not a certificate: it cannot verify anything.
      }
      continue;
    }
    for (let child = el.firstChild; child !== null; child = child.nextSibling) stack.push(child);
  }
  return { certificates, base64: [...seen] };
}

function thumbprintOf(cert: X509Certificate): string {
  return cert.fingerprint.replaceAll(':', '').toUpperCase();
}

export async function verifyM365(input: VerifyInput): Promise<VerifyReport> {
  const { config, key } = input;
  const domain = configuredDomain(config, input.domain);
  const fetchFn = input.fetch ?? fetch;
  const clock = input.clock ?? systemClock;
  const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_BYTES;
  const url = normaliseUrl(input.url ?? config.server.baseUrl);
  const metadataUrl = `${url}${PATHS.metadata}`;
  const identifier = federationIdentifier(config);
  const issuerUri = microsoft365Issuer(config.microsoft365, identifier, domain);
  const checks: Check[] = [];
  const add = (name: string, status: CheckStatus, reason: string) => checks.push({ name, status, reason });

  // 1. Fetch the metadata.
  let fetched: Fetched | undefined;
  try {
    fetched = await fetchCapped(fetchFn, metadataUrl, timeoutMs, maxBytes);
    if (fetched.status !== 200) {
      add('metadata', 'FAIL', `${metadataUrl} answered HTTP ${fetched.status}`);
    } else {
      add('metadata', 'OK', `${metadataUrl} answered ${fetched.body.length} bytes`);
    }
  } catch (error) {
    add('metadata', 'FAIL', `${metadataUrl}: ${(error as Error).message}`);
  }

  // 2-4. Signature, certificate, entityID / issuer.
  const ok200 = fetched !== undefined && fetched.status === 200;
  if (!ok200) {
    add('signature', 'FAIL', 'not checked: no metadata');
    add('certificate', 'FAIL', 'not checked: no metadata');
    add('entityID', 'FAIL', 'not checked: no metadata');
    add('issuer', 'FAIL', `not checked: no metadata (the domain's issuerUri is ${issuerUri})`);
  } else {
    checkDocument(fetched!.body.toString('utf8'), { key, identifier, issuerUri, domain, config, maxBytes, add });
  }

  // 5. Certificate lifetime (the configured key: it signs the tokens Entra checks).
  const daysLeft = (key.notAfter.getTime() - clock.now()) / DAY_MS;
  const until = `valid until ${key.notAfter.toISOString()}`;
  if (daysLeft <= 0) add('certificate-lifetime', 'FAIL', `signing certificate expired (${until})`);
  else if (daysLeft < CERT_FAIL_DAYS) {
    add('certificate-lifetime', 'FAIL', `signing certificate expires in ${Math.floor(daysLeft)} days (${until}): less than ${CERT_FAIL_DAYS}; renew it and update Entra ID`);
  } else if (daysLeft < CERT_WARN_DAYS) {
    add(
      'certificate-lifetime',
      'WARN',
      `signing certificate expires in ${Math.floor(daysLeft)} days (${until}): Entra ID starts its rollover now and finds no next certificate in the metadata; renew it`,
    );
  } else add('certificate-lifetime', 'OK', `${until} (${Math.floor(daysLeft)} days)`);

  // 6. Passive endpoint reachable: the AD FS probe answers 200 without touching back ends.
  const probeUrl = `${url}${PATHS.probe}`;
  try {
    const probe = await fetchCapped(fetchFn, probeUrl, timeoutMs, 64 * 1024);
    if (probe.status === 200) add('probe', 'OK', `${probeUrl} answered 200`);
    else add('probe', 'FAIL', `${probeUrl} answered HTTP ${probe.status}`);
  } catch (error) {
    add('probe', 'FAIL', `${probeUrl}: ${(error as Error).message}`);
  }

  // 7-9. WS-Trust, as a rich client meets it: the MEX document, then each usernamemixed endpoint.
  if (config.wsTrust.enabled) {
    const settingsAddress = (v: WsTrustVersion) => `${baseUrlOf(config)}${WS_TRUST_PATHS.usernameMixed[v]}`;
    await checkMex(`${url}${PATHS.mex}`, settingsAddress, { fetchFn, timeoutMs, maxBytes, add });
    for (const version of ['2005', '13'] as const) {
      await checkActiveEndpoint(`active-${version}`, `${url}${WS_TRUST_PATHS.usernameMixed[version]}`, { fetchFn, timeoutMs, add });
    }
  } else {
    add('ws-trust', 'OK', 'not checked: wsTrust.enabled is false (no activeSignInUri or metadataExchangeUri in the settings)');
  }

  // 10. Clock: the server's Date header against ours.
  if (!fetched) add('clock', 'WARN', 'not checked: no response');
  else if (!fetched.date || Number.isNaN(Date.parse(fetched.date))) add('clock', 'WARN', 'the response has no usable Date header');
  else {
    const skew = Date.parse(fetched.date) - clock.now();
    const text = `server clock ${fetched.date}, ${formatSkew(skew)} local time`;
    // The header has one-second resolution; the threshold is far above it.
    if (Math.abs(skew) > CLOCK_WARN_MS) add('clock', 'WARN', `${text}: more than 5 minutes; tokens may be refused as not yet or no longer valid`);
    else add('clock', 'OK', text);
  }

  return { domain, url, metadataUrl, issuerUri, ok: checks.every((c) => c.status !== 'FAIL'), checks };
}

function checkDocument(
  xml: string,
  ctx: {
    key: CertificateInfo;
    identifier: string;
    issuerUri: string;
    domain: string;
    config: Config;
    maxBytes: number;
    add: (name: string, status: CheckStatus, reason: string) => void;
  },
): void {
  const { key, identifier, issuerUri, domain, config, add } = ctx;
  let carried: { certificates: X509Certificate[]; base64: string[] };
  try {
    carried = carriedCertificates(parseXml(xml, { maxBytes: ctx.maxBytes }).documentElement!);
  } catch (error) {
    const reason = error instanceof XmlError ? `${error.code}: ${error.message}` : (error as Error).message;
    add('signature', 'FAIL', `metadata is not acceptable XML (${reason})`);
    add('certificate', 'FAIL', 'not checked: metadata unreadable');
    add('entityID', 'FAIL', 'not checked: metadata unreadable');
    add('issuer', 'FAIL', `not checked: metadata unreadable (the domain's issuerUri is ${issuerUri})`);
    return;
  }
  const publishesConfigured = carried.base64.includes(key.certificateBase64);

  let signedRoot: Element | undefined;
  if (carried.certificates.length === 0) {
    add('signature', 'FAIL', 'metadata carries no certificate to verify its signature with');
    add('certificate', 'FAIL', `metadata does not publish the configured signing certificate ${key.thumbprint}`);
  } else {
    try {
      const verified = verifySignedRoot(xml, { certificates: carried.certificates, allowSha1: true, maxBytes: ctx.maxBytes });
      signedRoot = verified.root;
      const signer = thumbprintOf(verified.certificate);
      add(
        'signature',
        verified.algorithm === 'rsa-sha1' ? 'WARN' : 'OK',
        `${verified.algorithm} signature verifies with the certificate it carries (${signer})` +
          (verified.algorithm === 'rsa-sha1' ? '; SHA-1 is deprecated' : ''),
      );
      if (verified.certificate.raw.toString('base64') === key.certificateBase64) {
        add('certificate', 'OK', `metadata is signed with the configured signing certificate ${key.thumbprint}`);
      } else {
        add(
          'certificate',
          'FAIL',
          `metadata is signed with ${signer}, not the configured signing certificate ${key.thumbprint}` +
            (publishesConfigured ? '' : ' (which it does not publish either)') +
            ': is --url the right server, or does the server use another key?',
        );
      }
    } catch (error) {
      const reason = error instanceof XmlError ? `${error.code}: ${error.message}` : (error as Error).message;
      add('signature', 'FAIL', `signature does not verify (${reason})`);
      add(
        'certificate',
        'FAIL',
        `cannot tell which certificate signs the metadata; the configured certificate ${key.thumbprint} is ${publishesConfigured ? '' : 'not '}published`,
      );
    }
  }

  // Only signed bytes are trusted for content.
  if (!signedRoot) {
    add('entityID', 'FAIL', 'not checked: the metadata is not validly signed');
    add('issuer', 'FAIL', `not checked: the metadata is not validly signed (the domain's issuerUri is ${issuerUri})`);
    return;
  }
  const entityId = signedRoot.namespaceURI === NS.md && signedRoot.localName === 'EntityDescriptor' ? attribute(signedRoot, 'entityID') : undefined;
  if (entityId === undefined || entityId === '') {
    add('entityID', 'FAIL', 'metadata root is not an md:EntityDescriptor with an entityID');
    add('issuer', 'FAIL', `not checked: no entityID (the domain's issuerUri is ${issuerUri})`);
    return;
  }
  add('entityID', 'OK', `entityID ${entityId}`);
  if (entityId !== identifier) {
    add('issuer', 'FAIL', `metadata entityID ${entityId} is not the configured Federation Service identifier ${identifier}`);
  } else if (config.microsoft365.supportMultipleDomain) {
    add('issuer', 'OK', `entityID is the Federation Service identifier; tokens for ${domain} carry the per-domain issuer ${issuerUri}, which must be its issuerUri in Entra ID`);
  } else {
    add('issuer', 'OK', `entityID equals the issuer of ${domain}'s tokens, ${issuerUri}, which must be its issuerUri in Entra ID`);
  }
}

interface ProbeContext {
  fetchFn: typeof fetch;
  timeoutMs: number;
  add: (name: string, status: CheckStatus, reason: string) => void;
}

/**
 * The MEX as MSAL reads it (protocols/wstrust/mex.ts, mexUsernameEndpoints): it must parse, and list a
 * username-password endpoint for WS-Trust 1.3 and 2005, each https and at the address the settings
 * give Entra ID (from server.baseUrl, whatever --url the check runs against).
 */
async function checkMex(
  mexUrl: string,
  settingsAddress: (v: WsTrustVersion) => string,
  ctx: ProbeContext & { maxBytes: number },
): Promise<void> {
  let fetched: Fetched;
  try {
    fetched = await fetchCapped(ctx.fetchFn, mexUrl, ctx.timeoutMs, ctx.maxBytes);
  } catch (error) {
    ctx.add('mex', 'FAIL', `${mexUrl}: ${(error as Error).message}`);
    return;
  }
  if (fetched.status !== 200) {
    ctx.add('mex', 'FAIL', `${mexUrl} answered HTTP ${fetched.status}`);
    return;
  }
  let endpoints: ReturnType<typeof mexUsernameEndpoints>;
  try {
    const root = parseXml(fetched.body.toString('utf8'), { maxBytes: ctx.maxBytes }).documentElement!;
    if (root.localName !== 'definitions' || root.namespaceURI !== MEX_NS.wsdl) {
      ctx.add('mex', 'FAIL', `${mexUrl} is not a WSDL document (root <${root.localName}>): rich clients find no endpoint in it`);
      return;
    }
    endpoints = mexUsernameEndpoints(root);
  } catch (error) {
    const reason = error instanceof XmlError ? `${error.code}: ${error.message}` : (error as Error).message;
    ctx.add('mex', 'FAIL', `${mexUrl} is not acceptable XML (${reason})`);
    return;
  }
  const problems: string[] = [];
  const found: string[] = [];
  for (const version of ['13', '2005'] as const) {
    const name = version === '13' ? 'WS-Trust 1.3' : 'WS-Trust 2005';
    const listed = endpoints.filter((e) => e.version === version).map((e) => e.address);
    const expected = settingsAddress(version);
    if (listed.length === 0) problems.push(`no ${name} username endpoint`);
    else if (!listed.some((a) => a.toLowerCase().startsWith('https://'))) problems.push(`${name} at ${listed.join(', ')}, which rich clients drop (not https)`);
    else if (!listed.includes(expected)) problems.push(`${name} at ${listed.join(', ')}, not ${expected}`);
    else found.push(`${name} ${expected}`);
  }
  if (problems.length > 0) ctx.add('mex', 'FAIL', `${mexUrl} lists ${problems.join('; ')}`);
  else ctx.add('mex', 'OK', `${mexUrl} lists ${found.join(' and ')}`);
}

/**
 * An empty SOAP 1.2 request (no token: nothing reaches the directory or the lockout counters) must
 * come back as a SOAP 1.2 fault with Code/Value, Code/Subcode/Value and Reason/Text: MSAL 1.21 crashes
 * on a fault without both, and an HTML page or a stack trace means the endpoint is not WS-Trust at all.
 */
async function checkActiveEndpoint(name: string, endpointUrl: string, ctx: ProbeContext): Promise<void> {
  const envelope = `<s:Envelope xmlns:s="${SOAP_NS['1.2']}"><s:Header/><s:Body/></s:Envelope>`;
  let fetched: Fetched;
  try {
    fetched = await fetchCapped(ctx.fetchFn, endpointUrl, ctx.timeoutMs, 64 * 1024, {
      method: 'POST',
      headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' },
      body: envelope,
    });
  } catch (error) {
    ctx.add(name, 'FAIL', `${endpointUrl}: ${(error as Error).message}`);
    return;
  }
  const answered = `${endpointUrl} answered HTTP ${fetched.status}` + (fetched.location ? ` (redirect to ${fetched.location})` : '') + ` ${fetched.contentType ?? 'without a type'}`;
  const text = fetched.body.toString('utf8');
  if (STACK_TRACE.test(text)) {
    ctx.add(name, 'FAIL', `${answered} carrying a stack trace`);
    return;
  }
  const fault = soapFault(text);
  if (typeof fault === 'string') ctx.add(name, 'FAIL', `${answered}, not a SOAP 1.2 fault (${fault})`);
  else ctx.add(name, 'OK', `${endpointUrl} answers an empty request with a SOAP fault (${fault.code} / ${fault.subcode}: ${fault.reason})`);
}

/** A Node or .NET stack frame: "at fn (file.js:12:34)" or "at Ns.Type.Method() in File.cs:line 12". */
const STACK_TRACE = /^\s*at .+(?::\d+:\d+\)?|:line \d+)\s*$/m;

/** The fault's code, subcode and reason, or why the text is not a SOAP 1.2 fault. */
function soapFault(text: string): { code: string; subcode: string; reason: string } | string {
  const soap = SOAP_NS['1.2'];
  let root: Element;
  try {
    root = parseXml(text).documentElement!;
  } catch (error) {
    return error instanceof XmlError ? `${error.code}` : 'unreadable';
  }
  if (root.namespaceURI !== soap || root.localName !== 'Envelope') return `root <${root.localName}> in ${root.namespaceURI ?? 'no namespace'}`;
  try {
    const body = requiredChild(root, soap, 'Body');
    const fault = requiredChild(body, soap, 'Fault');
    const code = requiredChild(fault, soap, 'Code');
    const subcode = requiredChild(code, soap, 'Subcode');
    const reason = requiredChild(requiredChild(fault, soap, 'Reason'), soap, 'Text');
    return {
      code: textOf(requiredChild(code, soap, 'Value')).trim(),
      subcode: textOf(requiredChild(subcode, soap, 'Value')).trim(),
      // The server's words in our report: one line, bounded.
      reason: textOf(reason).replace(/\s+/g, ' ').trim().slice(0, 200),
    };
  } catch (error) {
    return error instanceof XmlError ? error.message : 'unreadable';
  }
}

function formatSkew(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s === 0) return 'same as';
  return `${s} s ${ms > 0 ? 'ahead of' : 'behind'}`;
}

export function normaliseUrl(value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`--url ${value}: not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(`--url ${value}: expected http:// or https://`);
  if (parsed.search || parsed.hash) throw new ConfigError(`--url ${value}: expected no query or fragment`);
  return parsed.toString().replace(/\/+$/, '');
}

export function renderReport(report: VerifyReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = [
    `Microsoft 365 federation of ${report.domain} at ${report.url} (issuerUri ${report.issuerUri})`,
    ...report.checks.map((c) => `${c.status.padEnd(4)} ${c.name.padEnd(width)}  ${c.reason}`),
    report.ok ? 'No failures.' : `${report.checks.filter((c) => c.status === 'FAIL').length} check(s) failed.`,
  ];
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------
// key loading for the CLI

/**
 * The published token-signing certificates: the primary, and the next one during a rollover (Entra ID
 * takes it as nextSigningCertificate, so the rollover needs no admin action there). Unlike the server,
 * the CLI never creates a key: a certificate registered with Entra ID from a key made by accident
 * (another dataDir, another user) would break every sign-in.
 */
export async function loadKeysForCli(config: Config): Promise<{ primary: CertificateInfo; next?: CertificateInfo }> {
  const [primary, ...rest] = await readPublishedKeys(config);
  if (!primary) {
    throw new ConfigError(
      `no token-signing key: keys.signing is not configured and there is no key set ${config.sessions.redis ? 'in Redis' : `in ${config.dataDir}/keys`} yet (start OpenFed once with this configuration, or configure keys.signing)`,
    );
  }
  const next = rest.find((k) => k.role === 'next');
  return next ? { primary, next } : { primary };
}

// ---------------------------------------------------------------------------------------------------
// commander wiring (registered in main.ts)

export function m365Command(env: Record<string, string | undefined> = process.env): Command {
  const m365 = new Command('m365').description('Microsoft 365 / Entra ID federation: settings to apply and a check of what Entra sees');

  m365
    .command('settings')
    .description('print what federating a domain in Entra ID needs: Graph PowerShell commands and the Graph JSON body')
    .requiredOption('--domain <domain>', 'a domain from microsoft365.domains')
    .addOption(new Option('--protocol <protocol>', 'preferred authentication protocol').choices(['wsfed', 'saml']).default('wsfed'))
    .option('--display-name <name>', 'displayName of the identity provider in Entra ID (default: "OpenFed <host of server.baseUrl>")')
    .option('--json', 'print the settings object only')
    .action(async (options: { domain: string; protocol: Protocol; displayName?: string; json?: boolean }) => {
      const config = loadConfig(env);
      configuredDomain(config, options.domain); // before touching keys: the likelier mistake first
      const keys = await loadKeysForCli(config);
      const settings = buildM365Settings(config, keys.primary, {
        domain: options.domain,
        ...(keys.next ? { nextKey: keys.next } : {}),
        protocol: options.protocol,
        ...(options.displayName !== undefined ? { displayName: options.displayName } : {}),
      });
      process.stdout.write(options.json ? `${JSON.stringify(settings, null, 2)}\n` : renderSettings(settings));
    });

  m365
    .command('verify')
    .description('fetch the federation metadata as Entra ID does and check signature, certificate, issuer, probe, the WS-Trust endpoints and clock')
    .requiredOption('--domain <domain>', 'a domain from microsoft365.domains')
    .option('--url <url>', 'where OpenFed is reached (default: server.baseUrl)')
    .option('--json', 'print the report as JSON')
    .action(async (options: { domain: string; url?: string; json?: boolean }) => {
      const config = loadConfig(env);
      configuredDomain(config, options.domain);
      if (options.url !== undefined) normaliseUrl(options.url);
      const { primary: key } = await loadKeysForCli(config);
      const report = await verifyM365({ config, domain: options.domain, key, ...(options.url !== undefined ? { url: options.url } : {}) });
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
      if (!report.ok) process.exitCode = 1;
    });

  m365.addCommand(readinessCommand(env));

  return m365;
}
