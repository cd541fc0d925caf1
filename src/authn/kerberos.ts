/**
 * Windows Integrated Authentication: a browser (or a WS-Trust client) on the corporate network
 * presents the Kerberos ticket of its Windows logon in `Authorization: Negotiate <token>` (RFC 4559),
 * and the user is who the ticket says — once AD confirms the account may sign in now, since a
 * ticket outlives a disabled or locked account.
 *
 * What a token is decides what happens: SPNEGO carrying Kerberos, or a bare Kerberos AP-REQ
 * (requests-kerberos sends those), goes to GSSAPI; NTLM — raw or inside SPNEGO — is refused before
 * GSSAPI sees it (OpenFed never speaks NTLM: no type-2 challenge, no half-done handshake); anything
 * else is garbage. Every refusal leads to the forms page or a SOAP fault, never to a 500.
 */
import type { AuditLog } from '../audit/audit.js';
import { corporateNetwork } from '../claims/microsoft365.js';
import type { Config } from '../config/schema.js';
import type { AuthFailureReason, AuthResult, Directory, Principal } from '../directory/types.js';
import type { Logger } from '../log.js';
import type { KerberosAddon } from './kerberos-addon.js';

export type KerberosConfig = Config['kerberos'];

/** Tokens larger than this are refused unread: a ticket with a big PAC is tens of KB, never this. */
export const MAX_TOKEN_BYTES = 64 * 1024;

/** OIDs as they appear DER-encoded (tag 06, length, value). */
const OID = {
  spnego: Buffer.from('06062b0601050502', 'hex'), // 1.3.6.1.5.5.2
  kerberos: Buffer.from('06092a864886f712010202', 'hex'), // 1.2.840.113554.1.2.2
  kerberosMs: Buffer.from('06092a864882f712010202', 'hex'), // 1.2.840.48018.1.2.2 (Microsoft's)
  ntlm: Buffer.from('060a2b06010401823702020a', 'hex'), // 1.3.6.1.4.1.311.2.2.10
};
const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');

export type TokenKind = 'spnego' | 'kerberos' | 'ntlm' | 'unknown';

/**
 * What kind of Negotiate token this is, from its first bytes (RFC 2743 §3.1 InitialContextToken:
 * [APPLICATION 0] then the mechanism OID). SPNEGO whose first proposed mechanism is NTLM, or that
 * carries an NTLMSSP message, is NTLM: Kerberos-capable clients propose Kerberos first.
 */
export function classifyToken(token: Buffer): TokenKind {
  if (token.subarray(0, NTLMSSP.length).equals(NTLMSSP)) return 'ntlm';
  if (token[0] !== 0x60) return 'unknown';
  const head = token.subarray(0, 64);
  const mechAt = (oid: Buffer) => head.indexOf(oid);
  if (mechAt(OID.kerberos) >= 0 && mechAt(OID.kerberos) < 8) return 'kerberos';
  if (mechAt(OID.spnego) < 0 || mechAt(OID.spnego) >= 8) return 'unknown';
  if (token.includes(NTLMSSP)) return 'ntlm';
  const kerberos = Math.min(...[mechAt(OID.kerberos), mechAt(OID.kerberosMs)].filter((i) => i >= 0));
  const ntlm = mechAt(OID.ntlm);
  if (!Number.isFinite(kerberos)) return ntlm >= 0 ? 'ntlm' : 'unknown';
  return ntlm >= 0 && ntlm < kerberos ? 'ntlm' : 'spnego';
}

/** The base64 token of an `Authorization: Negotiate <token>` header, or undefined for anything else. */
export function negotiateToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Negotiate\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization);
  return match?.[1];
}

/**
 * The name a ticket's client principal is looked up by in AD: alice@CONTOSO.COM → alice
 * (sAMAccountName), an enterprise principal bob\@contoso.com@CONTOSO.COM → bob@contoso.com (UPN).
 * A principal of another realm is undefined: its KDC is not the one we trust for our users.
 */
export function loginNameOf(principal: string, realm: string): string | undefined {
  const at = principal.lastIndexOf('@');
  if (at <= 0 || principal.slice(at + 1).toUpperCase() !== realm.toUpperCase()) return undefined;
  const name = principal.slice(0, at);
  // Kerberos escapes '@' and '/' inside a component; a service principal (with '/') is not a user.
  if (/(?<!\\)\//.test(name)) return undefined;
  return name.replace(/\\@/g, '@');
}

export type WindowsFailure = 'ntlm' | 'garbled' | 'rejected' | 'other_realm' | AuthFailureReason;

export type WindowsOutcome =
  | { ok: true; principal: Principal; /** The server token for mutual authentication, when GSSAPI made one. */ response?: string }
  | { ok: false; reason: WindowsFailure; detail: string };

export interface WindowsAttempt {
  /** The base64 Negotiate token. */
  token: string;
  clientIp: string;
  requestId: string;
  log: Logger;
  endpoint: 'form' | 'wstrust';
}

export interface WindowsSignInDeps {
  config: KerberosConfig;
  addon: KerberosAddon;
  directory: Pick<Directory, 'checkAccount'>;
  audit: AuditLog;
}

/** Who may be asked for a ticket: intranet addresses, and browsers known to answer (AD FS WIASupportedUserAgents). */
export function integratedAuthOffer(config: KerberosConfig, internalNetworks: readonly string[]): (clientIp: string, userAgent: string | undefined) => boolean {
  const intranet = corporateNetwork(config.intranetNetworks ?? internalNetworks);
  return (clientIp, userAgent) =>
    config.enabled && userAgent !== undefined && intranet(clientIp) && config.userAgents.some((fragment) => userAgent.includes(fragment));
}

/** One Kerberos sign-in, whichever door it came through: the token, the ticket, the account, the audit trail. */
export class WindowsSignIns {
  /** GSS host-based service name: HTTP/sts.contoso.com → HTTP@sts.contoso.com. */
  private readonly service: string;

  constructor(private readonly deps: WindowsSignInDeps) {
    this.service = deps.config.servicePrincipal!.replace('/', '@');
  }

  async signIn(attempt: WindowsAttempt): Promise<WindowsOutcome> {
    const outcome = await this.check(attempt);
    const { log, clientIp, requestId, endpoint } = attempt;
    if (outcome.ok) {
      const upn = outcome.principal.userPrincipalName;
      log.info({ event: 'signin.succeeded', upn, method: 'windows', endpoint }, 'sign-in succeeded');
      this.deps.audit.record({ type: 'signin.succeeded', user: upn, upn, method: 'windows', clientIp, persistent: false, endpoint }, requestId);
    } else {
      // No DC answering is an outage, which the directory logs as it changes (lost, still down, back):
      // a line per refused ticket would flood the log then (issue #17). Each one is still at debug,
      // in the audit trail and in the metrics.
      const level = outcome.reason === 'directory_unavailable' ? 'debug' : 'info';
      log[level]({ event: 'signin.failed', reason: outcome.reason, detail: outcome.detail, method: 'windows', endpoint }, 'sign-in failed');
      this.deps.audit.record({ type: 'signin.failed', user: '', reason: `windows_${outcome.reason}`, clientIp, endpoint }, requestId);
    }
    return outcome;
  }

  private async check(attempt: WindowsAttempt): Promise<WindowsOutcome> {
    const bytes = Buffer.from(attempt.token, 'base64');
    if (bytes.length === 0 || bytes.length > MAX_TOKEN_BYTES) return { ok: false, reason: 'garbled', detail: `token of ${bytes.length} bytes` };
    const kind = classifyToken(bytes);
    if (kind === 'ntlm') return { ok: false, reason: 'ntlm', detail: 'an NTLM token (not offered)' };
    if (kind === 'unknown') return { ok: false, reason: 'garbled', detail: 'not a Kerberos or SPNEGO token' };

    let principalName: string;
    let response: string | undefined;
    try {
      // One context per token: browsers complete Kerberos in one round trip, and a context kept
      // across requests would tie a connection's state to a user.
      const context = await this.deps.addon.initializeServer(this.service);
      await context.step(attempt.token);
      if (!context.username) return { ok: false, reason: 'rejected', detail: 'GSSAPI accepted no client principal' };
      principalName = context.username;
      response = context.response || undefined;
    } catch (error) {
      // GSSAPI's message names the cause (wrong service key, clock skew, replay, corrupt ticket).
      return { ok: false, reason: 'rejected', detail: `GSSAPI: ${(error as Error).message}`.slice(0, 300) };
    }

    const login = loginNameOf(principalName, this.deps.config.realm!);
    if (login === undefined) return { ok: false, reason: 'other_realm', detail: `ticket of ${principalName.slice(0, 200)}` };
    const account: AuthResult = await this.deps.directory.checkAccount(login);
    if (!account.ok) return { ok: false, reason: account.reason, detail: account.detail ?? account.reason };
    return { ok: true, principal: account.principal, response };
  }
}
