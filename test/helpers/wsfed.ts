/**
 * A WS-Federation relying party's view of OpenFed's answer: the fields of the auto-POST page, the
 * assertion inside the RSTR, and validation by an independent library: saml20, the SAML 1.1/2.0
 * token validator of passport-wsfed-saml2's lineage (passport-wsfed-saml2 itself depends on a
 * GitHub-hosted xml-crypto fork, which cannot be installed from the npm registry).
 *
 * saml20 is given the certificate, not a thumbprint: its thumbprint path hashes a 'binary' string,
 * which Node today reads as UTF-8, so it computes wrong thumbprints for every certificate.
 */
import { createRequire } from 'node:module';
import { readPostForm } from './saml.js';

interface Saml20Profile {
  claims: Record<string, string | string[]>;
  issuer: string;
}
type Saml20 = {
  validate(xml: string, options: { thumbprint?: string; publicKey?: string; audience?: string; bypassExpiration?: boolean }, cb: (err: Error | null, profile?: Saml20Profile) => void): void;
};
const saml20 = createRequire(import.meta.url)('saml20') as Saml20;

export function validateWithSaml20(assertion: string, options: { certificateBase64: string; audience: string }): Promise<Saml20Profile> {
  return new Promise((resolve, reject) =>
    saml20.validate(assertion, { publicKey: options.certificateBase64, audience: options.audience }, (err, profile) => (err ? reject(err) : resolve(profile!))),
  );
}

export interface WsfedPost {
  action: string;
  wa: string;
  wresult: string;
  wctx?: string;
  /** The signed assertion, cut out of the RSTR as an RP does. */
  assertion: string;
}

export function readWsfedPost(html: string): WsfedPost {
  const { action, fields } = readPostForm(html);
  const wresult = fields.wresult;
  if (!wresult || !fields.wa) throw new Error('not a WS-Fed sign-in response');
  const m = /<(saml:)?Assertion[\s\S]*<\/(saml:)?Assertion>/.exec(wresult);
  if (!m) throw new Error('no assertion in wresult');
  return { action, wa: fields.wa, wresult, wctx: fields.wctx, assertion: m[0] };
}
