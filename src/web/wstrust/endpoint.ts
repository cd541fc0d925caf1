/**
 * The WS-Trust endpoints as one front door: a SOAP request in, a SOAP answer out — the RSTR with a
 * signed token, or a fault. Never a page: a rich client has nobody to show one to, and MSAL reads only
 * the envelope. Two ways to say who the caller is:
 *
 *   usernamemixed     a UsernameToken in the message. The password goes through exactly the checks of
 *                     the sign-in form (authn/password.ts: per-address throttle, extranet smart lockout,
 *                     the directory's bind, the audit trail).
 *   windowstransport  HTTP Negotiate (Kerberos) on the request, intranet addresses only: 401 with a
 *                     challenge first, then the ticket is checked as the browser's is (authn/kerberos.ts),
 *                     and the answer carries the server's token for mutual authentication.
 *
 * The order is the cheapest refusal first: HTTPS, (for Kerberos: the network, the challenge), the
 * envelope, the addressing headers, the timestamp, the relying party, and only then the credentials.
 * The token carries the claims the passive sign-in gives the same relying party.
 *
 * No express: http.ts reads Node's request into a WsTrustRequest and writes the answer.
 */
import type { PasswordSignIns } from '../../authn/password.js';
import { negotiateToken } from '../../authn/kerberos.js';
import type { AuthFailureReason, Principal } from '../../directory/types.js';
import { ProtocolError, ServiceUnavailableError, toSoapFault, WsTrustError, type SoapFaultAnswer } from '../../errors.js';
import { TooManyAttemptsError } from '../../lockout/guard.js';
import type { Logger } from '../../log.js';
import { WS_TRUST_PATHS, type SoapVersion, type WsTrustVersion } from '../../protocols/wstrust/constants.js';
import { readRequestSecurityToken, type RequestSecurityToken } from '../../protocols/wstrust/request.js';
import { buildFault, buildIssueResponse } from '../../protocols/wstrust/response.js';
import type { AppDeps } from '../context.js';
import { PAGE_MESSAGES, SIGN_IN_MESSAGES } from '../messages.js';
import type { PasswordAuthenticator } from '../password-auth.js';

export type WsTrustAuthentication = 'username' | 'windows';

export interface WsTrustRequest {
  /** The endpoint's version (from its path). */
  version: WsTrustVersion;
  /** The endpoint's kind: usernamemixed or windowstransport. */
  authentication: WsTrustAuthentication;
  /** The Authorization header (windowstransport). */
  authorization?: string;
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
  /** `Negotiate` (the challenge) or `Negotiate <token>` (mutual authentication). */
  wwwAuthenticate?: string;
}

export interface WsTrustDeps extends AppDeps {
  signIns: PasswordSignIns;
  passwords: Pick<PasswordAuthenticator, 'check'>;
}

export class WsTrustEndpoint {
  /** wsa:To must name the endpoint that received the request, as MEX published it. */
  private readonly addresses: Record<WsTrustAuthentication, Record<WsTrustVersion, string>>;

  constructor(private readonly deps: WsTrustDeps) {
    const base = deps.config.server.baseUrl.replace(/\/+$/, '');
    const address = (path: string) => endpointKey(`${base}${path}`)!;
    const { usernameMixed, windowsTransport } = WS_TRUST_PATHS;
    this.addresses = {
      username: { '2005': address(usernameMixed['2005']), '13': address(usernameMixed['13']) },
      windows: { '2005': address(windowsTransport['2005']), '13': address(windowsTransport['13']) },
    };
  }

  async handle(request: WsTrustRequest): Promise<WsTrustAnswer> {
    let rst: RequestSecurityToken | undefined;
    try {
      if (!request.https) throw new WsTrustError('wstrust_not_https', 'credentials over plain HTTP', { code: 'Sender', subcode: 'wsse:InvalidSecurity' }, 403);
      const { config } = this.deps;
      const limits = { maxBytes: config.wsTrust.maxMessageBytes, maxUsernameLength: config.web.maxUsernameLength, maxPasswordLength: config.web.maxPasswordLength };
      if (request.authentication === 'username') {
        const read = readRequestSecurityToken(request.body, request.version, request.soapAction, limits);
        rst = read;
        this.checkRequest(request, read);
        const { username, password } = read.credentials;
        const outcome = await this.deps.signIns.signIn({ username, password, clientIp: request.clientIp, requestId: request.requestId, log: request.log, endpoint: 'wstrust' }, (name) =>
          this.deps.passwords.check(name, password),
        );
        if (!outcome.ok) {
          // The form's own words: a locked account reads as a wrong password there too (messages.ts).
          const reason = outcome.reason === 'missing_fields' || outcome.reason === 'too_long' ? PAGE_MESSAGES.wstrust_authentication_failed.text : SIGN_IN_MESSAGES[outcome.reason].text;
          return this.fault(request, rst, { code: 'Sender', subcode: 'wst:FailedAuthentication' }, 400, reason);
        }
        return this.issue(request, read, outcome.principal, 'password');
      }

      const windows = this.deps.windows;
      if (!windows || !windows.offersTransport(request.clientIp)) {
        throw new WsTrustError('wstrust_windows_not_offered', 'windowstransport from outside the intranet', { code: 'Sender', subcode: 'wst:RequestFailed' }, 403);
      }
      const token = negotiateToken(request.authorization);
      if (token === undefined) {
        const challenge = this.fault(request, undefined, { code: 'Sender', subcode: 'wst:FailedAuthentication' }, 401, PAGE_MESSAGES.wstrust_windows_challenge.text);
        return { ...challenge, status: 401, wwwAuthenticate: 'Negotiate' };
      }
      rst = readRequestSecurityToken(request.body, request.version, request.soapAction, limits, 'transport');
      this.checkRequest(request, rst);
      const outcome = await windows.signIns.signIn({ token, clientIp: request.clientIp, requestId: request.requestId, log: request.log, endpoint: 'wstrust' });
      if (!outcome.ok) {
        if (outcome.reason === 'directory_unavailable') throw new ServiceUnavailableError('directory_unavailable', outcome.detail);
        const reason = isAccountState(outcome.reason) ? SIGN_IN_MESSAGES[outcome.reason].text : PAGE_MESSAGES.wstrust_authentication_failed.text;
        return this.fault(request, rst, { code: 'Sender', subcode: 'wst:FailedAuthentication' }, 400, reason);
      }
      const answer = this.issue(request, rst, outcome.principal, 'windows');
      return outcome.response ? { ...answer, wwwAuthenticate: `Negotiate ${outcome.response}` } : answer;
    } catch (error) {
      return this.refuse(request, rst, error);
    }
  }

  /** What holds before any credential is looked at: the envelope was for us, fresh, for a relying party we know. */
  private checkRequest(request: WsTrustRequest, rst: RequestSecurityToken): void {
    if (rst.soap !== request.soap) {
      throw new WsTrustError('wstrust_request_invalid', `a SOAP ${rst.soap} envelope sent as SOAP ${request.soap}`, { code: 'VersionMismatch', subcode: 'wst:InvalidRequest' });
    }
    if (endpointKey(rst.to) !== this.addresses[request.authentication][request.version]) {
      throw new WsTrustError('wstrust_wrong_destination', `wsa:To ${rst.to.slice(0, 200)} is not this endpoint`, { code: 'Sender', subcode: 'wsa:DestinationUnreachable' });
    }
    this.checkTimestamp(rst);
    if (!this.deps.wsfed.knows(rst.appliesTo)) {
      throw new WsTrustError('wstrust_unknown_relying_party', `no relying party ${rst.appliesTo.slice(0, 200)}`, { code: 'Sender', subcode: 'wst:InvalidScope' });
    }
  }

  private issue(request: WsTrustRequest, rst: RequestSecurityToken, principal: Principal, method: 'password' | 'windows'): WsTrustAnswer {
    const { clock, wsfed, audit } = this.deps;
    const { clientIp, requestId, log } = request;
    const token = wsfed.issue(rst.appliesTo, { principal, authnInstant: clock.now(), clientIp, tokenType: rst.tokenType, method });
    const upn = principal.userPrincipalName;
    log.info({ event: 'token.issued', protocol: 'wstrust', rp: token.appliesTo, upn, version: request.version, method }, 'WS-Trust token issued');
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

/** The account states AD reports only to someone who proved who they are: said as the form says them. */
function isAccountState(reason: string): reason is Exclude<AuthFailureReason, 'directory_unavailable'> {
  return Object.hasOwn(SIGN_IN_MESSAGES, reason) && reason !== 'invalid_credentials' && reason !== 'directory_unavailable';
}
