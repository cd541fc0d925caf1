/**
 * What the bench sends and what it accepts back: SP-initiated AuthnRequests (Redirect binding, a
 * fresh ID each), WS-Fed wsignin queries, and the tokens cut out of OpenFed's auto-POST page and
 * checked by validators that are not OpenFed's code: @node-saml/node-saml for SAML 2.0 responses,
 * Debian's xmlsec1 for the SAML 1.1 assertion of WS-Federation.
 */
import { execFile } from 'node:child_process';
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';

const run = promisify(execFile);

export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

export interface SamlRequestFactory {
  /** The path+query of a fresh AuthnRequest; its ID is remembered in `ids`. */
  next(): string;
  /**
   * Makes `count` requests ahead, which next() hands out first: deflating and signing on the fly
   * would have the load generator compete with OpenFed for the same cores during a measured phase.
   * Their IssueInstant is now, well inside OpenFed's freshness window for a phase of seconds.
   */
  prepare(count: number): void;
  readonly ids: Set<string>;
}

/**
 * AuthnRequests as an SP sends them over the Redirect binding, each with its own ID and
 * IssueInstant (OpenFed refuses a replayed ID, so a repeated one would show up as an error).
 * With a key, the query is signed as SAML bindings §3.4.4.1 says.
 */
export function samlRequestFactory(o: { idpSsoUrl: string; spEntityId: string; signingKey?: KeyObject }): SamlRequestFactory {
  const ids = new Set<string>();
  const path = new URL(o.idpSsoUrl).pathname;
  const head =
    '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"';
  const tailXml = `><saml:Issuer>${o.spEntityId}</saml:Issuer></samlp:AuthnRequest>`;
  const make = () => {
    const id = `_bench${randomBytes(16).toString('hex')}`;
    ids.add(id);
    const xml = `${head} ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${o.idpSsoUrl}"${tailXml}`;
    let query = `SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`;
    if (o.signingKey) {
      query += `&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
      query += `&Signature=${encodeURIComponent(sign('sha256', Buffer.from(query), o.signingKey).toString('base64'))}`;
    }
    return `${path}?${query}`;
  };
  let ready: string[] = [];
  return {
    ids,
    next: () => ready.pop() ?? make(),
    prepare(count) {
      ready = Array.from({ length: count }, make);
    },
  };
}

/** A WS-Fed passive sign-in query; wctx differs per request as a real RP's state would. */
export function wsfedQuery(ssoPath: string, realm: string, n: number): string {
  return `${ssoPath}?wa=wsignin1.0&wtrealm=${encodeURIComponent(realm)}&wctx=bench-${n}`;
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#34;': '"', '&quot;': '"', '&#39;': "'", '&apos;': "'" };
const unescapeHtml = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (m, ref: string) =>
    ENTITIES[m] ?? (ref.startsWith('#') ? String.fromCodePoint(ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1))) : m),
  );

/**
 * The fields of OpenFed's HTTP-POST binding page, or undefined when the page is anything else (the
 * sign-in form, an error page): a 200 that is not a token must never count as one.
 */
export function readPostForm(html: string): { action: string; fields: Record<string, string> } | undefined {
  const form = /<form method="post" action="([^"]*)" id="post-binding">([\s\S]*?)<\/form>/.exec(html);
  if (!form) return undefined;
  const fields: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[unescapeHtml(m[1]!)] = unescapeHtml(m[2]!);
  return { action: unescapeHtml(form[1]!), fields };
}

/** Cheap enough to run on every response under load: the page carries the token field. */
export function looksLikeToken(body: string, field: 'SAMLResponse' | 'wresult'): boolean {
  return body.includes('id="post-binding"') && body.includes(`name="${field}" value="`);
}

// ------------------------------------------------------------------------------------ validation

export interface SamlExpectation {
  idpCertPem: string;
  idpIssuer: string;
  spEntityId: string;
  acsUrl: string;
  /** IDs of the requests the bench sent: every InResponseTo must be one of them. */
  requestIds: ReadonlySet<string>;
}

/** Validates one HTTP-POST page with node-saml; throws with the reason when it is not a valid token. */
export async function validateSamlPage(html: string, e: SamlExpectation): Promise<{ nameId: string; inResponseTo: string }> {
  const form = readPostForm(html);
  const samlResponse = form?.fields.SAMLResponse;
  if (!form || !samlResponse) throw new Error('not a SAML HTTP-POST page');
  if (form.action !== e.acsUrl) throw new Error(`posted to ${form.action}, not the registered ACS ${e.acsUrl}`);
  return validateSamlResponse(samlResponse, e);
}

export async function validateSamlResponse(samlResponse: string, e: SamlExpectation): Promise<{ nameId: string; inResponseTo: string }> {
  const saml = new SAML({
    issuer: e.spEntityId,
    callbackUrl: e.acsUrl,
    audience: e.spEntityId,
    idpCert: e.idpCertPem,
    idpIssuer: e.idpIssuer,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    // The bench checks InResponseTo itself against every ID it sent (node-saml's cache only knows
    // requests it generated).
    validateInResponseTo: ValidateInResponseTo.never,
  });
  const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
  if (!profile?.nameID) throw new Error('no NameID in the validated response');
  const inResponseTo = /\sInResponseTo="([^"]+)"/.exec(Buffer.from(samlResponse, 'base64').toString('utf8'))?.[1];
  if (!inResponseTo || !e.requestIds.has(inResponseTo)) throw new Error(`InResponseTo ${inResponseTo ?? '(none)'} is not a request the bench sent`);
  return { nameId: profile.nameID, inResponseTo };
}

export interface WsfedExpectation {
  idpCertPem: string;
  idpIssuer: string;
  realm: string;
  replyUrl: string;
  /** The UPN of the signed-in user, which the token must carry. */
  upn: string;
}

/** The SAML 1.1 assertion inside wresult, as an RP cuts it out. */
export function assertionOf(wresult: string): string | undefined {
  return /<saml:Assertion\s[\s\S]*<\/saml:Assertion>/.exec(wresult)?.[0];
}

/** Validates one WS-Fed POST page: xmlsec1 checks the signature, the rest is checked here. */
export async function validateWsfedPage(html: string, e: WsfedExpectation): Promise<{ assertionId: string }> {
  const form = readPostForm(html);
  const wresult = form?.fields.wresult;
  if (!form || !wresult || form.fields.wa !== 'wsignin1.0') throw new Error('not a WS-Fed sign-in response page');
  if (form.action !== e.replyUrl) throw new Error(`posted to ${form.action}, not the registered reply URL ${e.replyUrl}`);
  const assertion = assertionOf(wresult);
  if (!assertion) throw new Error('no SAML 1.1 assertion in wresult');
  return validateWsfedAssertion(assertion, e);
}

export async function validateWsfedAssertion(assertion: string, e: WsfedExpectation): Promise<{ assertionId: string }> {
  await xmlsec1Verify(assertion, e.idpCertPem, 'urn:oasis:names:tc:SAML:1.0:assertion:Assertion', 'AssertionID');
  const open = /^<saml:Assertion\s[^>]*>/.exec(assertion)?.[0] ?? '';
  const attr = (name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(open)?.[1];
  if (attr('Issuer') !== e.idpIssuer) throw new Error(`Issuer ${attr('Issuer') ?? '(none)'} is not ${e.idpIssuer}`);
  if (!assertion.includes(`<saml:Audience>${e.realm}</saml:Audience>`)) throw new Error(`no Audience ${e.realm}`);
  const notOnOrAfter = /<saml:Conditions [^>]*NotOnOrAfter="([^"]+)"/.exec(assertion)?.[1];
  if (!notOnOrAfter || Date.parse(notOnOrAfter) <= Date.now()) throw new Error(`expired or no NotOnOrAfter (${notOnOrAfter ?? 'none'})`);
  if (!assertion.includes(`>${e.upn}<`)) throw new Error(`the assertion does not carry ${e.upn}`);
  return { assertionId: attr('AssertionID') ?? '' };
}

/** Debian's xmlsec1 on one document; throws with its output when the signature does not verify. */
export async function xmlsec1Verify(xml: string, certPem: string, idNode: string, idAttribute: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-bench-xmlsec-'));
  try {
    writeFileSync(join(dir, 'doc.xml'), xml);
    writeFileSync(join(dir, 'cert.pem'), certPem);
    await run('xmlsec1', ['--verify', '--pubkey-cert-pem', join(dir, 'cert.pem'), `--id-attr:${idAttribute}`, idNode, join(dir, 'doc.xml')]);
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('xmlsec1 not installed (apt-get install xmlsec1)');
    throw new Error(`xmlsec1 refused the signature: ${(e.stderr ?? String(err)).trim().split('\n').slice(-3).join(' | ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Keeps a uniform random sample of at most `size` items out of a stream of unknown length. */
export class Reservoir<T> {
  private seen = 0;
  readonly items: T[] = [];
  constructor(private readonly size: number, private readonly random: () => number = Math.random) {}
  offer(item: T): void {
    this.seen++;
    if (this.items.length < this.size) {
      this.items.push(item);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.size) this.items[j] = item;
  }
}
