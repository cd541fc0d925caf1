/**
 * Tools for playing a SAML service provider in tests: keys, hand-made requests for the negative
 * cases, and reading the HTTP-POST binding page OpenFed answers with.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

export interface KeyPair {
  keyPem: string;
  certPem: string;
  dir: string;
}

/** An RSA-2048 key and self-signed certificate made with openssl, as an SP administrator would. */
export function makeKeyPair(cn: string): KeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-sp-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '30', '-subj', `/CN=${cn}`], {
    cwd: dir,
    stdio: 'pipe',
  });
  return { keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'), certPem: readFileSync(join(dir, 'cert.pem'), 'utf8'), dir };
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#34;': '"', '&quot;': '"', '&#39;': "'", '&apos;': "'" };
const unescapeHtml = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (m, ref: string) =>
    ENTITIES[m] ?? (ref.startsWith('#') ? String.fromCodePoint(ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1))) : m),
  );

/** The auto-submitting form of the HTTP-POST binding page. */
export function readPostForm(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form method="post" action="([^"]*)" id="post-binding">([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no HTTP-POST binding form in:\n${html.slice(0, 500)}`);
  const fields: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[unescapeHtml(m[1]!)] = unescapeHtml(m[2]!);
  return { action: unescapeHtml(form[1]!), fields };
}

export const decodeSamlResponse = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

export interface CraftOptions {
  issuer: string;
  id?: string;
  issueInstant?: Date;
  destination?: string;
  acsUrl?: string;
  acsIndex?: number;
  forceAuthn?: boolean;
  isPassive?: boolean;
  nameIdFormat?: string;
  authnContext?: { comparison: string; refs: string[] };
  protocolBinding?: string;
  version?: string;
}

/** An AuthnRequest as an SP would write it, with every knob the negative tests need. */
export function craftAuthnRequest(o: CraftOptions): { xml: string; id: string } {
  const id = o.id ?? `_${randomBytes(12).toString('hex')}`;
  const attrs = [
    `ID="${id}"`,
    `Version="${o.version ?? '2.0'}"`,
    `IssueInstant="${(o.issueInstant ?? new Date()).toISOString()}"`,
    o.destination ? `Destination="${o.destination}"` : '',
    o.acsUrl ? `AssertionConsumerServiceURL="${o.acsUrl}"` : '',
    o.acsIndex !== undefined ? `AssertionConsumerServiceIndex="${o.acsIndex}"` : '',
    o.forceAuthn ? 'ForceAuthn="true"' : '',
    o.isPassive ? 'IsPassive="true"' : '',
    o.protocolBinding ? `ProtocolBinding="${o.protocolBinding}"` : '',
  ].filter(Boolean);
  const policy = o.nameIdFormat ? `<samlp:NameIDPolicy Format="${o.nameIdFormat}" AllowCreate="true"/>` : '';
  const context = o.authnContext
    ? `<samlp:RequestedAuthnContext Comparison="${o.authnContext.comparison}">${o.authnContext.refs.map((r) => `<saml:AuthnContextClassRef>${r}</saml:AuthnContextClassRef>`).join('')}</samlp:RequestedAuthnContext>`
    : '';
  const xml =
    `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ${attrs.join(' ')}>` +
    `<saml:Issuer>${o.issuer}</saml:Issuer>${policy}${context}</samlp:AuthnRequest>`;
  return { xml, id };
}

export function redirectQuery(xml: string, relayState?: string): string {
  const q = `SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml)).toString('base64'))}`;
  return relayState === undefined ? q : `${q}&RelayState=${encodeURIComponent(relayState)}`;
}

/** Runs Debian's xmlsec1 on a document: the independent check of our signatures. Never skipped. */
export function xmlsec1Verify(xml: string, certPem: string, idNode: string, idAttribute = 'ID'): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-xmlsec-'));
  writeFileSync(join(dir, 'doc.xml'), xml);
  writeFileSync(join(dir, 'cert.pem'), certPem);
  try {
    const out = execFileSync('xmlsec1', ['--verify', '--pubkey-cert-pem', join(dir, 'cert.pem'), `--id-attr:${idAttribute}`, idNode, join(dir, 'doc.xml')], {
      stdio: 'pipe',
      encoding: 'utf8',
    });
    return { ok: true, output: out };
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('xmlsec1 not installed (apt-get install xmlsec1)');
    return { ok: false, output: e.stderr ?? String(err) };
  }
}
