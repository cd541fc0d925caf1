/**
 * WS-Federation passive requestor profile (wa=wsignin1.0 / wsignout1.0 / wsignoutcleanup1.0) at
 * /adfs/ls/, and Microsoft 365 as a built-in relying party with the claims AD FS issues to Entra ID.
 *
 *   trust():   realm registered → wreply one of that realm's reply URLs → wctx within bounds.
 *              Failures throw a WsfedError: an error page, never a POST to an unchecked URL.
 *   answer():  sign-in needed (none, or not fresh enough for wfresh), or the RSTR to POST.
 */
import type { Clock } from '../../clock.js';
import { CLAIM_TYPE } from '../../claims/claim-types.js';
import { claimValues } from '../../claims/values.js';
import { corporateNetwork, microsoft365ImmutableId, microsoft365IssuerFor } from '../../claims/microsoft365.js';
import type { Config } from '../../config/schema.js';
import { TokenRefusedError, WsfedError } from '../../errors.js';
import type { KeyRing } from '../../keys/key-ring.js';
import type { WsfedRelyingPartyConfig } from '../../relying-parties/schema.js';
import type { SessionRecord } from '../../sessions/types.js';
import { signatureAlgorithmFor, type SignatureAlgorithm } from '../../xml/verify.js';
import { singleParam, type Params } from '../params.js';
import { AUTHN_CONTEXT } from '../saml2/constants.js';
import { sessionIndexFor } from '../session-values.js';
import { buildSignInResponse, type Claim, type TOKEN_TYPE } from './token.js';

export const WA = { signIn: 'wsignin1.0', signOut: 'wsignout1.0', signOutCleanup: 'wsignoutcleanup1.0' } as const;

/** Where session.relyingParties remembers WS-Fed realms, apart from SAML entityIDs. */
export const WSFED_SESSION_PREFIX = 'wsfed|';

/** How session.relyingParties names a WS-Fed realm. */
export const wsfedParticipant = (realm: string): string => `${WSFED_SESSION_PREFIX}${realm}`;

const PASSWORD_AUTHN_METHOD = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password';
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

export interface SignInRequest {
  realm: string;
  wreply?: string;
  wctx?: string;
  /** Maximum age of the authentication in minutes; 0 = type the password again. */
  wfresh?: number;
  username?: string;
}

/** A sign-in request whose realm and reply URL were checked. JSON-safe: it waits in the pending store. */
export interface TrustedSignIn {
  realm: string;
  replyUrl: string;
  wctx?: string;
  wfresh?: number;
  loginHint?: string;
  receivedAt: number;
}

export type WsfedOutcome =
  | { action: 'post'; url: string; fields: Record<string, string>; /** for the audit trail */ nameId: string }
  | { action: 'signin'; forceAuthn: boolean; loginHint?: string };

interface WsfedRp {
  realm: string;
  name: string;
  replyUrls: string[];
  tokenType: keyof typeof TOKEN_TYPE;
  lifetimeMs: number;
  algorithm: SignatureAlgorithm;
  microsoft365: boolean;
  config?: WsfedRelyingPartyConfig;
}

export interface WsfedDeps {
  /** The Federation Service identifier. */
  issuer: string;
  config: Pick<Config, 'microsoft365' | 'saml'>;
  /**
   * The WS-Fed relying parties (configured and added with `openfed rp add --wsfed`); read again
   * whenever `version` moves, so an added or removed realm counts from the next request.
   */
  relyingParties: { readonly version: number; wsfed(): readonly WsfedRelyingPartyConfig[] };
  clock: Clock;
  /** Read at every signature: a rollover takes effect on the next token. */
  keys: Pick<KeyRing, 'primary'>;
  sessionSecret: string;
}

/** Entra sends an estsrequest blob in wctx of a few KB; far more is not a real relying party. */
const MAX_WCTX = 16_384;
const invalid = (detail: string) => new WsfedError('wsfed_request_invalid', detail);

/** The wsignin1.0 parameters, refused when malformed: sizes capped, one value each. */
export function readSignInRequest(params: Params): SignInRequest {
  const single = (name: string, max: number) => singleParam(params, name, invalid, max);
  const realm = single('wtrealm', 1024);
  if (!realm) throw invalid('wtrealm is missing');
  const wfresh = single('wfresh', 10);
  if (wfresh !== undefined && !/^\d+$/.test(wfresh)) throw invalid('wfresh is not a number of minutes');
  return {
    realm,
    wreply: single('wreply', 2048),
    wctx: single('wctx', MAX_WCTX),
    wfresh: wfresh === undefined ? undefined : Number(wfresh),
    username: single('username', 256),
  };
}

export class WsfedIdp {
  private readonly microsoft365: WsfedRp | undefined;
  private readonly insideCorporateNetwork: (ip: string) => boolean;
  private built: { version: number; rps: Map<string, WsfedRp> } | undefined;

  constructor(private readonly deps: WsfedDeps) {
    const m365 = deps.config.microsoft365;
    this.microsoft365 = m365.enabled
      ? {
          realm: m365.realm,
          name: 'Microsoft Office 365 Identity Platform',
          replyUrls: [m365.replyUrl],
          tokenType: 'saml11',
          lifetimeMs: m365.tokenLifetimeMinutes * 60_000,
          algorithm: signatureAlgorithmFor(m365.signatureAlgorithm),
          microsoft365: true,
        }
      : undefined;
    this.insideCorporateNetwork = corporateNetwork(m365.internalNetworks);
  }

  /** The realms we trust now: rebuilt only when the registry's version moved. */
  private get rps(): Map<string, WsfedRp> {
    const version = this.deps.relyingParties.version;
    if (this.built?.version === version) return this.built.rps;
    const rps = new Map<string, WsfedRp>();
    for (const rp of this.deps.relyingParties.wsfed()) {
      rps.set(rp.realm, {
        realm: rp.realm,
        name: rp.name ?? rp.realm,
        replyUrls: rp.replyUrls,
        tokenType: rp.tokenType,
        lifetimeMs: rp.tokenLifetimeMinutes * 60_000,
        algorithm: signatureAlgorithmFor(rp.signatureAlgorithm),
        microsoft365: false,
        config: rp,
      });
    }
    if (this.microsoft365) rps.set(this.microsoft365.realm, this.microsoft365);
    this.built = { version, rps };
    return rps;
  }

  /** Realm registered; wreply (when given) one of its reply URLs, compared exactly. */
  trust(request: SignInRequest): TrustedSignIn {
    const rp = this.rps.get(request.realm);
    if (!rp) throw new WsfedError('wsfed_unknown_realm', `no WS-Fed relying party ${request.realm.slice(0, 200)}`);
    const replyUrl = request.wreply ?? rp.replyUrls[0]!;
    if (!rp.replyUrls.includes(replyUrl)) {
      throw new WsfedError('wsfed_unknown_reply', `wreply ${replyUrl.slice(0, 200)} is not registered for ${rp.realm}`);
    }
    return {
      realm: rp.realm,
      replyUrl,
      wctx: request.wctx,
      wfresh: request.wfresh,
      loginHint: request.username,
      receivedAt: this.deps.clock.now(),
    };
  }

  answer(trusted: TrustedSignIn, session: { id: string; record: SessionRecord } | undefined, clientIp: string): WsfedOutcome {
    const rp = this.rps.get(trusted.realm);
    if (!rp) throw new WsfedError('wsfed_unknown_realm', `relying party ${trusted.realm} is gone`);
    if (!session || !this.freshEnough(trusted, session.record)) {
      return { action: 'signin', forceAuthn: trusted.wfresh !== undefined, loginHint: trusted.loginHint };
    }
    const { record } = session;
    const token = rp.microsoft365 ? this.microsoft365Token(record, clientIp) : this.genericToken(rp, record);
    const now = this.deps.clock.now();
    const wresult = buildSignInResponse({
      issuer: token.issuer,
      realm: rp.realm,
      replyUrl: trusted.replyUrl,
      now,
      lifetimeMs: rp.lifetimeMs,
      skewMs: this.deps.config.saml.clockSkewSeconds * 1000,
      nameIdentifier: token.nameIdentifier,
      claims: token.claims,
      authnMethod: AUTHN_CONTEXT.passwordProtectedTransport,
      authnInstant: record.authnInstant,
      sessionIndex: sessionIndexFor(this.deps.sessionSecret, session.id),
      tokenType: rp.tokenType,
      key: this.deps.keys.primary,
      algorithm: rp.algorithm,
    });
    const fields: Record<string, string> = { wa: WA.signIn, wresult };
    // wctx goes back byte for byte: Entra keeps its whole request state in it.
    if (trusted.wctx !== undefined) fields.wctx = trusted.wctx;
    return { action: 'post', url: trusted.replyUrl, fields, nameId: token.nameIdentifier.value };
  }

  /** wfresh=N: the password must have been typed within N minutes (0: in answer to this request). */
  private freshEnough(trusted: TrustedSignIn, record: SessionRecord): boolean {
    if (trusted.wfresh === undefined) return true;
    if (trusted.wfresh === 0) return record.authnInstant >= trusted.receivedAt;
    return this.deps.clock.now() - record.authnInstant <= trusted.wfresh * 60_000;
  }

  /**
   * The claims AD FS issues to Entra ID (the Entra Connect rule set): NameIdentifier and ImmutableID
   * from the source anchor, UPN, insidecorporatenetwork, authnmethodsreferences, psso — under the
   * issuer of the user's federated domain.
   */
  private microsoft365Token(record: SessionRecord, clientIp: string) {
    const m365 = this.deps.config.microsoft365;
    const p = record.principal;
    const issuer = microsoft365IssuerFor(m365, this.deps.issuer, p);
    const immutableId = microsoft365ImmutableId(p, m365.immutableIdSource);
    if (!immutableId) throw new TokenRefusedError('m365_no_immutable_id', `${p.userPrincipalName} has no ${m365.immutableIdSource}`);
    const claims: Claim[] = [
      { type: CLAIM_TYPE.adfs1Upn, values: [p.userPrincipalName] },
      { type: CLAIM_TYPE.immutableId, values: [immutableId] },
      { type: CLAIM_TYPE.insideCorporateNetwork, values: [String(this.insideCorporateNetwork(clientIp))], valueType: 'boolean' },
      { type: CLAIM_TYPE.authnMethodsReferences, values: [PASSWORD_AUTHN_METHOD] },
    ];
    if (record.persistent) claims.push({ type: CLAIM_TYPE.psso, values: ['true'] });
    return {
      issuer,
      nameIdentifier: { format: UNSPECIFIED, value: immutableId },
      claims,
    };
  }

  private genericToken(rp: WsfedRp, record: SessionRecord) {
    const config = rp.config!;
    const value = claimValues(record.principal, config.nameIdentifier.source)[0];
    if (value === undefined) throw new WsfedError('wsfed_request_invalid', `no ${config.nameIdentifier.source} for the NameIdentifier`, 'wst:RequestFailed', 403);
    return {
      issuer: this.deps.issuer,
      nameIdentifier: { format: config.nameIdentifier.format, value },
      claims: config.claims.map((c) => ({ type: c.type, values: claimValues(record.principal, c.source) })),
    };
  }

  /** Where wsignoutcleanup1.0 goes for each WS-Fed RP the session signed into. */
  cleanupUrls(record: SessionRecord): string[] {
    return record.relyingParties.flatMap((entry) => {
      if (!entry.startsWith(WSFED_SESSION_PREFIX)) return [];
      const rp = this.rps.get(entry.slice(WSFED_SESSION_PREFIX.length));
      if (!rp) return [];
      const url = new URL(rp.replyUrls[0]!);
      url.searchParams.set('wa', WA.signOutCleanup);
      return [url.toString()];
    });
  }

  /** After wsignout1.0: the wreply to return to, only when registered for the realm given. */
  signOutReturn(realm: string | undefined, wreply: string | undefined): string | undefined {
    if (!realm || !wreply) return undefined;
    return this.rps.get(realm)?.replyUrls.includes(wreply) ? wreply : undefined;
  }
}
