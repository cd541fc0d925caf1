/**
 * /adfs/services/trust/2005/usernamemixed and /adfs/services/trust/13/usernamemixed as one front door:
 * a SOAP request in, a SOAP answer out — the RSTR with a signed token, or a fault. Never a page: a
 * rich client has nobody to show one to, and MSAL reads only the envelope.
 *
 * The order is the cheapest refusal first: HTTPS, the envelope, the addressing headers, the timestamp,
 * the relying party, and only then the password — which goes through exactly the checks of the
 * sign-in form (authn/password.ts: per-address throttle, extranet smart lockout, the directory's bind,
 * the audit trail). The token carries the claims the passive sign-in gives the same relying party.
 *
 * No express: http.ts reads Node's request into a WsTrustRequest and writes the answer.
 */
import type { PasswordSignIns } from '../../authn/password.js';
import { ProtocolError, toSoapFault, WsTrustError, type SoapFaultAnswer } from '../../errors.js';
import { TooManyAttemptsError } from '../../lockout/guard.js';
import type { Logger } from '../../log.js';
import { WS_TRUST_PATHS, type SoapVersion, type WsTrustVersion } from '../../protocols/wstrust/constants.js';
import { readRequestSecurityToken, type RequestSecurityToken } from '../../protocols/wstrust/request.js';
import { buildFault, buildIssueResponse } from '../../protocols/wstrust/response.js';
import type { AppDeps } from '../context.js';
import { PAGE_MESSAGES, SIGN_IN_MESSAGES } from '../messages.js';
import type { PasswordAuthenticator } from '../password-auth.js';

export interface WsTrustRequest {
  /** The endpoint's version (from its path). */
  version: WsTrustVersion;
  /** The SOAP version the HTTP binding names: text/xml is SOAP 1.1, application/soap+xml SOAP 1.2. */
  soap: SoapVersion;
  body: string;
  /** The SOAPAction header, unquoted, when sent. */
  soapAction?: string;
  /** Arrived over TLS (directly, or through a trusted proxy that says so). */
  https: boolean;
  clientIp: string;
  requestId: string;
  log: Logger;
}

export interface WsTrustAnswer {
  status: number;
  soap: SoapVersion;
  body: string;
  /** Seconds, with a 429. */
  retryAfter?: number;
}

export interface WsTrustDeps extends AppDeps {
  signIns: PasswordSignIns;
  passwords: Pick<PasswordAuthenticator, 'check'>;
}

export class WsTrustEndpoint {
  /** wsa:To must name the endpoint that received the request, as MEX published it. */
  private readonly addresses: Record<WsTrustVersion, string>;

  constructor(private readonly deps: WsTrustDeps) {
    const base = deps.config.server.baseUrl.replace(/\/+$/, '');
    this.addresses = {
      '2005': endpointKey(`${base}${WS_TRUST_PATHS.usernameMixed['2005']}`)!,
      '13': endpointKey(`${base}${WS_TRUST_PATHS.usernameMixed['13']}`)!,
    };
  }

  async handle(request: WsTrustRequest): Promise<WsTrustAnswer> {
    let rst: RequestSecurityToken | undefined;
    try {
      if (!request.https) throw new WsTrustError('wstrust_not_https', 'UsernameToken over plain HTTP', { code: 'Sender', subcode: 'wsse:InvalidSecurity' }, 403);
      const { config } = this.deps;
      rst = readRequestSecurityToken(request.body, request.version, request.soapAction, {
        maxBytes: config.wsTrust.maxMessageBytes,
        maxUsernameLength: config.web.maxUsernameLength,
        maxPasswordLength: config.web.maxPasswordLength,
      });
      if (rst.soap !== request.soap) {
        throw new WsTrustError('wstrust_request_invalid', `a SOAP ${rst.soap} envelope sent as SOAP ${request.soap}`, { code: 'VersionMismatch', subcode: 'wst:InvalidRequest' });
      }
      return await this.issue(request, rst);
    } catch (error) {
      return this.refuse(request, rst, error);
    }
  }

  private async issue(request: WsTrustRequest, rst: RequestSecurityToken): Promise<WsTrustAnswer> {
    const { clock, wsfed, signIns, passwords, audit } = this.deps;
    if (endpointKey(rst.to) !== this.addresses[request.version]) {
      throw new WsTrustError('wstrust_wrong_destination', `wsa:To ${rst.to.slice(0, 200)} is not this endpoint`, { code: 'Sender', subcode: 'wsa:DestinationUnreachable' });
    }
    this.checkTimestamp(rst);
    if (!wsfed.knows(rst.appliesTo)) {
      throw new WsTrustError('wstrust_unknown_relying_party', `no relying party ${rst.appliesTo.slice(0, 200)}`, { code: 'Sender', subcode: 'wst:InvalidScope' });
    }

    const { clientIp, requestId, log } = request;
    const outcome = await signIns.signIn({ username: rst.username, password: rst.password, clientIp, requestId, log, endpoint: 'wstrust' }, (username) =>
      passwords.check(username, rst.password),
    );
    if (!outcome.ok) {
      // The form's own words: a locked account reads as a wrong password there too (messages.ts).
      const reason = outcome.reason === 'missing_fields' || outcome.reason === 'too_long' ? PAGE_MESSAGES.wstrust_authentication_failed.text : SIGN_IN_MESSAGES[outcome.reason].text;
      return this.fault(request, rst, { code: 'Sender', subcode: 'wst:FailedAuthentication' }, 400, reason);
    }

    const token = wsfed.issue(rst.appliesTo, { principal: outcome.principal, authnInstant: clock.now(), clientIp, tokenType: rst.tokenType });
    const upn = outcome.principal.userPrincipalName;
    log.info({ event: 'token.issued', protocol: 'wstrust', rp: token.appliesTo, upn, version: request.version }, 'WS-Trust token issued');
    audit.record({ type: 'token.issued', protocol: 'wstrust', rp: token.appliesTo, upn, nameId: token.nameId, clientIp }, requestId);
    return {
      status: 200,
      soap: request.soap,
      body: buildIssueResponse({ soap: request.soap, version: request.version, relatesTo: rst.messageId, now: clock.now(), token }),
    };
  }

  /**
   * WS-Security §10: a Timestamp is optional, but one that is sent is checked, with the clock skew
   * allowed for SAML. Without Expires, Created may be no older than a SAML request may be.
   */
  private checkTimestamp(rst: RequestSecurityToken): void {
    const { timestamp } = rst;
    if (!timestamp) return;
    const { saml } = this.deps.config;
    const now = this.deps.clock.now();
    const skew = saml.clockSkewSeconds * 1000;
    const expired = (detail: string) => new WsTrustError('wstrust_message_expired', detail, { code: 'Sender', subcode: 'wsse:MessageExpired' });
    if (timestamp.created - skew > now) throw expired('Timestamp created in the future');
    const expires = timestamp.expires ?? timestamp.created + saml.requestMaxAgeMinutes * 60_000;
    if (expires + skew <= now) throw expired('Timestamp expired');
  }

  private refuse(request: WsTrustRequest, rst: RequestSecurityToken | undefined, error: unknown): WsTrustAnswer {
    const answer = toSoapFault(error);
    const { log } = request;
    if (answer.status >= 500) log.error({ err: error, messageId: answer.messageId }, 'WS-Trust request failed');
    else log.warn({ reason: (error as Error | undefined)?.message, messageId: answer.messageId, fault: answer.subcode }, 'WS-Trust request refused');
    if (error instanceof ProtocolError) {
      this.deps.audit.record({ type: 'token.refused', protocol: 'wstrust', rp: rst?.appliesTo, reason: answer.messageId, clientIp: request.clientIp }, request.requestId);
    }
    const retryAfter = error instanceof TooManyAttemptsError ? error.retryAfterSeconds : undefined;
    return { ...this.fault(request, rst, answer, answer.status, PAGE_MESSAGES[answer.messageId].text), retryAfter };
  }

  private fault(request: WsTrustRequest, rst: RequestSecurityToken | undefined, fault: Pick<SoapFaultAnswer, 'code' | 'subcode'>, status: number, reason: string): WsTrustAnswer {
    // SOAP 1.1's HTTP binding answers every fault with 500; SOAP 1.2's says which (errors.ts).
    const soap = request.soap;
    return {
      status: soap === '1.1' ? 500 : status,
      soap,
      body: buildFault({ soap, version: request.version, relatesTo: rst?.messageId, fault, reason }),
    };
  }
}

/**
 * An endpoint address as compared with wsa:To: scheme and host case-insensitive, the default port
 * implied, the path case-insensitive (AD FS's paths are), no trailing slash. Nothing else may differ.
 */
function endpointKey(address: string): string | undefined {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return undefined;
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return undefined;
  return `${url.protocol}//${url.host}${url.pathname.toLowerCase().replace(/\/+$/, '')}`;
}
