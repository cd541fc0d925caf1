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
import type { AuthMethod, SessionRecord } from '../../sessions/types.js';
import { signatureAlgorithmFor, type SignatureAlgorithm } from '../../xml/verify.js';
import { singleParam, type Params } from '../params.js';
import { AUTHN_CONTEXT } from '../saml2/constants.js';
import { sessionIndexFor } from '../session-values.js';
import type { Principal } from '../../directory/types.js';
import { authorize, decideAccess, PERMIT_EVERYONE, type AccessControl } from '../../policy/access.js';
import { newSamlId } from '../saml2/response.js';
import { buildSignInResponse, buildTokenAssertion, signTokenAssertion, type Claim, type TOKEN_TYPE, type TokenInput } from './token.js';

export const WA = { signIn: 'wsignin1.0', signOut: 'wsignout1.0', signOutCleanup: 'wsignoutcleanup1.0' } as const;

/** Where session.relyingParties remembers WS-Fed realms, apart from SAML entityIDs. */
export const WSFED_SESSION_PREFIX = 'wsfed|';

/** How session.relyingParties names a WS-Fed realm. */
export const wsfedParticipant = (realm: string): string => `${WSFED_SESSION_PREFIX}${realm}`;

/** authnmethodsreferences values AD FS issues, by how the user signed in. */
const AUTHN_METHOD_REFERENCE: Record<AuthMethod, string> = {
  password: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
  windows: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/windows',
  certificate: 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509',
};
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
/** When the second factor was done, as AD FS states it to Entra ID. */
const MFA_INSTANT_CLAIM = 'http://schemas.microsoft.com/ws/2017/04/identity/claims/multifactorauthenticationinstant';
/** SAML 1.1 core §7.1: the AuthenticationMethod AD FS writes for a UsernameToken. */
const SAML11_PASSWORD_METHOD = 'urn:oasis:names:tc:SAML:1.0:am:password';

export interface SignInRequest {
  realm: string;
  wreply?: string;
  wctx?: string;
  /** Maximum age of the authentication in minutes; 0 = type the password again. */
  wfresh?: number;
  /** The authentication method the RP asks for (Entra: multipleauthn for MFA, password for a fresh password). */
  wauth?: string;
  username?: string;
}

/** A sign-in request whose realm and reply URL were checked. JSON-safe: it waits in the pending store. */
export interface TrustedSignIn {
  realm: string;
  replyUrl: string;
  wctx?: string;
  wfresh?: number;
  wauth?: string;
  loginHint?: string;
  receivedAt: number;
}

export type WsfedOutcome =
  | { action: 'post'; url: string; fields: Record<string, string>; /** for the audit trail */ nameId: string }
  /** `mfa`: only the second factor is missing; `password`: a password is wanted where the session had Kerberos. */
  | { action: 'signin'; forceAuthn: boolean; loginHint?: string; mfa?: boolean; password?: boolean };

/** Who a token is for and how they proved it, whether from an SSO session or a WS-Trust request. */
interface TokenSubject {
  principal: Principal;
  method: AuthMethod;
  /** When the second factor was done in this session. */
  mfaInstant?: number;
  persistent: boolean;
  authnInstant: number;
  clientIp: string;
  replyUrl: string;
  sessionIndex: string;
  authnMethod: string;
}

/** A principal authenticated by a WS-Trust request (no SSO session). */
export interface ActiveSubject {
  principal: Principal;
  authnInstant: number;
  clientIp: string;
  /** How the caller proved who they are: a UsernameToken (password, the default) or Kerberos (windowstransport). */
  method?: 'password' | 'windows';
  /** Asked for in the request; else the relying party's configured type. */
  tokenType?: keyof typeof TOKEN_TYPE;
}

/** A signed token for WS-Trust's answer. */
export interface ActiveToken {
  /** The signed assertion, byte for byte. */
  assertion: string;
  assertionId: string;
  tokenType: keyof typeof TOKEN_TYPE;
  appliesTo: string;
  notBefore: number;
  notOnOrAfter: number;
  /** For the audit trail. */
  nameId: string;
}

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
  /** Access control policies (policy/access.ts); default: everyone is permitted. */
  access?: AccessControl;
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
    wauth: single('wauth', 1024),
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
      ...(request.wauth !== undefined ? { wauth: request.wauth } : {}),
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
    const mfaDone = record.mfaInstant !== undefined;
    // wauth names what the RP wants: Entra sends multipleauthn when it leaves MFA to us
    // (federatedIdpMfaBehavior), and the password method (with wfresh=0) for a fresh password.
    if (trusted.wauth === AUTHN_CONTEXT.multipleAuthn && !mfaDone) return { action: 'signin', forceAuthn: false, mfa: true };
    if (trusted.wauth === AUTHN_METHOD_REFERENCE.password && record.authnMethod !== 'password') {
      return { action: 'signin', forceAuthn: false, loginHint: trusted.loginHint, password: true };
    }
    const policy = rp.microsoft365 ? this.deps.config.microsoft365.accessPolicy : rp.config?.accessPolicy;
    if (decideAccess(this.deps.access ?? PERMIT_EVERYONE, policy, { groups: record.principal.groups, clientIp, mfa: mfaDone }, rp.realm) === 'mfa_required') {
      return { action: 'signin', forceAuthn: false, mfa: true };
    }
    const input = this.tokenInput(rp, {
      principal: record.principal,
      method: record.authnMethod,
      ...(record.mfaInstant !== undefined ? { mfaInstant: record.mfaInstant } : {}),
      persistent: record.persistent,
      authnInstant: record.authnInstant,
      clientIp,
      replyUrl: trusted.replyUrl,
      sessionIndex: sessionIndexFor(this.deps.sessionSecret, session.id),
      authnMethod: mfaDone ? AUTHN_CONTEXT.multipleAuthn : record.authnMethod === 'windows' ? AUTHN_CONTEXT.windows : AUTHN_CONTEXT.passwordProtectedTransport,
    });
    const fields: Record<string, string> = { wa: WA.signIn, wresult: buildSignInResponse(input) };
    // wctx goes back byte for byte: Entra keeps its whole request state in it.
    if (trusted.wctx !== undefined) fields.wctx = trusted.wctx;
    return { action: 'post', url: trusted.replyUrl, fields, nameId: input.nameIdentifier.value };
  }

  /** Is `realm` a relying party we issue WS-Federation tokens to (Microsoft 365 included)? */
  knows(realm: string): boolean {
    return this.rps.has(realm);
  }

  /**
   * A token for `realm` to a principal who proved who they are just now, without a browser session:
   * WS-Trust's answer. The same relying party settings and claims as the passive sign-in; the
   * authentication method is what the requestor sent (a password in a UsernameToken).
   */
  issue(realm: string, subject: ActiveSubject): ActiveToken {
    const rp = this.rps.get(realm);
    if (!rp) throw new WsfedError('wsfed_unknown_realm', `no WS-Fed relying party ${realm.slice(0, 200)}`);
    this.authorize(rp, subject.principal, subject.clientIp);
    const tokenType = subject.tokenType ?? rp.tokenType;
    const input = this.tokenInput(
      { ...rp, tokenType },
      {
        principal: subject.principal,
        method: subject.method ?? 'password',
        persistent: false,
        authnInstant: subject.authnInstant,
        clientIp: subject.clientIp,
        replyUrl: rp.replyUrls[0]!,
        // No session outlives this token: its index only has to be unique.
        sessionIndex: newSamlId(),
        authnMethod:
          subject.method === 'windows' ? AUTHN_CONTEXT.windows : tokenType === 'saml11' ? SAML11_PASSWORD_METHOD : AUTHN_CONTEXT.passwordProtectedTransport,
      },
    );
    const assertion = buildTokenAssertion(input);
    return {
      assertion: signTokenAssertion(assertion, input),
      assertionId: assertion.id,
      tokenType,
      appliesTo: rp.realm,
      notBefore: input.now,
      notOnOrAfter: input.now + input.lifetimeMs,
      nameId: input.nameIdentifier.value,
    };
  }

  /** The relying party's access control policy, judged on this request's address (AccessDeniedError). */
  private authorize(rp: WsfedRp, principal: Principal, clientIp: string): void {
    const policy = rp.microsoft365 ? this.deps.config.microsoft365.accessPolicy : rp.config?.accessPolicy;
    authorize(this.deps.access ?? PERMIT_EVERYONE, policy, { groups: principal.groups, clientIp, mfa: false }, rp.realm);
  }

  /** Everything a token for `rp` says, from one place for the passive and the active answer. */
  private tokenInput(rp: WsfedRp, subject: TokenSubject): TokenInput {
    const token = rp.microsoft365 ? this.microsoft365Token(subject) : this.genericToken(rp, subject.principal);
    return {
      issuer: token.issuer,
      realm: rp.realm,
      replyUrl: subject.replyUrl,
      now: this.deps.clock.now(),
      lifetimeMs: rp.lifetimeMs,
      skewMs: this.deps.config.saml.clockSkewSeconds * 1000,
      nameIdentifier: token.nameIdentifier,
      claims: token.claims,
      authnMethod: subject.authnMethod,
      authnInstant: subject.authnInstant,
      sessionIndex: subject.sessionIndex,
      tokenType: rp.tokenType,
      key: this.deps.keys.primary,
      algorithm: rp.algorithm,
    };
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
  private microsoft365Token({ principal: p, persistent, clientIp, method, mfaInstant }: TokenSubject) {
    const m365 = this.deps.config.microsoft365;
    const issuer = microsoft365IssuerFor(m365, this.deps.issuer, p);
    const immutableId = microsoft365ImmutableId(p, m365.immutableIdSource);
    if (!immutableId) throw new TokenRefusedError('m365_no_immutable_id', `${p.userPrincipalName} has no ${m365.immutableIdSource}`);
    const claims: Claim[] = [
      { type: CLAIM_TYPE.adfs1Upn, values: [p.userPrincipalName] },
      { type: CLAIM_TYPE.immutableId, values: [immutableId] },
      // Windows Integrated Authentication is only offered inside (kerberos.intranetNetworks), as AD FS
      // offers it only on the intranet: a Kerberos sign-in is inside by definition.
      { type: CLAIM_TYPE.insideCorporateNetwork, values: [String(method === 'windows' || this.insideCorporateNetwork(clientIp))], valueType: 'boolean' },
      // Every method used: Entra reads multipleauthn as "MFA done by the federation server".
      { type: CLAIM_TYPE.authnMethodsReferences, values: [AUTHN_METHOD_REFERENCE[method], ...(mfaInstant !== undefined ? [AUTHN_CONTEXT.multipleAuthn] : [])] },
    ];
    if (mfaInstant !== undefined) claims.push({ type: MFA_INSTANT_CLAIM, values: [new Date(mfaInstant).toISOString()] });
    if (persistent) claims.push({ type: CLAIM_TYPE.psso, values: ['true'] });
    return {
      issuer,
      nameIdentifier: { format: UNSPECIFIED, value: immutableId },
      claims,
    };
  }

  private genericToken(rp: WsfedRp, principal: Principal) {
    const config = rp.config!;
    const value = claimValues(principal, config.nameIdentifier.source)[0];
    if (value === undefined) throw new WsfedError('wsfed_request_invalid', `no ${config.nameIdentifier.source} for the NameIdentifier`, 'wst:RequestFailed', 403);
    return {
      issuer: this.deps.issuer,
      nameIdentifier: { format: config.nameIdentifier.format, value },
      claims: config.claims.map((c) => ({ type: c.type, values: claimValues(principal, c.source) })),
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

  /** The name people see for a realm (the configured name, Microsoft 365's own), when it is registered. */
  relyingPartyName(realm: string): string | undefined {
    return this.rps.get(realm)?.name;
  }

  /** After wsignout1.0: the wreply to return to, only when registered for the realm given. */
  signOutReturn(realm: string | undefined, wreply: string | undefined): string | undefined {
    if (!realm || !wreply) return undefined;
    return this.rps.get(realm)?.replyUrls.includes(wreply) ? wreply : undefined;
  }
}
