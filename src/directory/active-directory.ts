/**
 * Active Directory over LDAP (ldapts). The only module, with ldap-filter.ts, that speaks LDAP.
 *
 * How a sign-in runs:
 *   1. the login name is parsed and turned into equality searches (name.ts), run in order on ONE
 *      long-lived connection bound as the service account;
 *   2. the password is checked by a simple bind as the user's DN, so the account state (disabled,
 *      expired, locked...) comes from the DC itself (ad-errors.ts). The bind runs on a connection
 *      of a small pool kept for user binds only: AD and Samba let a connection bind again as someone
 *      else, and a new connection per sign-in cost the Samba DC half as much again as the bind
 *      itself (more with a TLS handshake).
 *      A user-bound connection is never used for lookups;
 *   3. the principal is built from the entry found in 1. With groupLookup tokenGroups, the group
 *      SIDs come from the rootDSE tokenGroups of the connection the user just bound on: the SIDs of
 *      the token the DC built for that very bind, read without the DC expanding groups again (the
 *      tokenGroups of the user object costs the DC about a sixth of a bind). Their names come from
 *      a short-lived SID -> name cache, else one search on the service connection.
 *
 * Every connection tries the DCs in the configured order; a DC that refuses, fails TLS, or does not
 * answer within connectTimeoutMs / timeoutMs is skipped. Only when all fail is the directory
 * "unavailable". An LDAP answer (wrong password, no such object) is never a reason to try the next
 * DC: it would be the same answer.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Attribute, Change, Client, ResultCodeError, type Entry, type Filter } from 'ldapts';
import { systemClock, type Clock } from '../clock.js';
import type { LdapConfig } from '../config/schema.js';
import { BadRequestError, ServiceUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { OutageLog } from '../outage.js';
import { accountStateFailure, classifyBindFailure, classifyPasswordChangeFailure, fileTimeToMs } from './ad-errors.js';
import { crossRefFilter, groupByNameFilter, groupFilter, groupsOfFilter, servicePrincipalFilter, sidsFilter, userFilter, usersInScopeFilter } from './ldap-filter.js';
import { checkPassword, lookupSteps, parseLoginName, type DomainNames, type LookupStep } from './name.js';
import { primaryGroupSid, sidToString } from './sid.js';
import { checkNewPassword, explainPolicyRefusal, intervalToMs, unicodePwdValue, type PasswordPolicy } from './password-policy.js';
import type {
  AuthFailureReason,
  AuthResult,
  Directory,
  DirectoryUserRecord,
  GroupRef,
  HealthResult,
  PasswordChangeFailureReason,
  PasswordChangeResult,
  PasswordChangeSupport,
  Principal,
  UserScope,
} from './types.js';
import { InternalError } from '../errors.js';

export interface ActiveDirectoryOptions {
  /**
   * Password binds running at once. Each needs its own connection, so this caps the user-bind
   * connections open at the DC, busy or pooled; further sign-ins wait their turn. Default 8.
   */
  maxConcurrentBinds?: number;
  /** Told how long each password check (user bind) took, for the latency histogram. */
  onBind?: (outcome: BindOutcome, seconds: number) => void;
  /** Ages the idle user-bind connections (see BIND_CONNECTION_*_MS), and times the outage lines. */
  clock?: Clock;
  /** How often an outage (no DC answering) is reported as still going on (log.outageReportSeconds). Default 10 s. */
  outageReportMs?: number;
}

/** success: the DC accepted the password; rejected: AD refused it (52e, 775, 533...); unavailable: no DC answered. */
export type BindOutcome = 'success' | 'rejected' | 'unavailable';

/** The names of the domain the users live in, read once from the directory. */
interface DomainInfo extends DomainNames {
  /** DN of the domain naming context, e.g. DC=corp,DC=example,DC=com: where groups are searched. */
  domainDn: string;
}

interface Connection {
  client: Client;
  url: string;
}

/** A connection kept for user binds; never searched on. */
interface BindConnection extends Connection {
  openedAt: number;
  idleSince: number;
}

/** No domain controller could be used; carries the per-DC reasons for the log. */
class DirectoryUnavailable extends InternalError {
  override readonly name = 'DirectoryUnavailable';
}

// Binary attributes must be named exactly as the DC spells them (ldapts matches case-sensitively),
// else ldapts may decode them as UTF-8 text. AD and Samba answer with the lDAPDisplayName.
const BINARY_ATTRIBUTES = ['objectGUID', 'mS-DS-ConsistencyGuid', 'objectSid', 'tokenGroups'];
const USER_ATTRIBUTES = [
  'objectGUID',
  'mS-DS-ConsistencyGuid',
  'objectSid',
  'primaryGroupID',
  'userPrincipalName',
  'sAMAccountName',
  'mail',
  'displayName',
  'givenName',
  'sn',
];
/** What `openfed m365 readiness` reads of each user: the attributes Entra Connect syncs and IdFix checks. */
const LISTED_USER_ATTRIBUTES = [
  'objectGUID',
  'mS-DS-ConsistencyGuid',
  'userPrincipalName',
  'sAMAccountName',
  'mail',
  'proxyAddresses',
  'displayName',
  'userAccountControl',
];
/** Below AD's MaxPageSize (1000), so the DC never trims a page. */
const USER_PAGE_SIZE = 500;
/** BUILTIN aliases (Users, Administrators...) are local to domain controllers, meaningless to a relying party. */
const BUILTIN_DOMAIN_SID_PREFIX = 'S-1-5-32-';
/** AD answers at most 1000 entries per page (MaxPageSize); a user in more groups needs paging. */
const GROUP_PAGE_SIZE = 500;
/** The order of String#localeCompare without building a collator per comparison. */
const byName = new Intl.Collator().compare;
/** Keeps a hostile or pasted-in-error username from flooding the log. */
const LOGGED_NAME_LENGTH = 128;
/**
 * An idle user-bind connection older than this is closed rather than reused: well under AD's
 * default MaxConnIdleTime (900 s), so the DC rarely closes one under us.
 */
const BIND_CONNECTION_IDLE_MS = 300_000;
/**
 * A user-bind connection to any DC but the first configured one is reused only this long after it
 * opened, so sign-ins return to the preferred DC soon after it is back.
 */
const BIND_CONNECTION_FALLBACK_MS = 60_000;
/**
 * How long a group's name is reused for its SID. Membership is read afresh at every sign-in; only
 * a renamed group keeps its old name in claims this long, as Windows' own SID lookup cache does.
 */
const GROUP_NAME_TTL_MS = 60_000;
/** A bound on the SID -> name cache, far above the groups of any real domain in use at once. */
const GROUP_NAME_CACHE_MAX = 10_000;

export class ActiveDirectory implements Directory {
  readonly kind = 'active-directory';

  private readonly log: Logger;
  private readonly ca: Buffer | undefined;
  private readonly bindSlots: Slots;
  private readonly onBind: (outcome: BindOutcome, seconds: number) => void;
  private readonly clock: Clock;
  /** Idle user-bind connections, the most recently used last; never more than maxConcurrentBinds. */
  private readonly idleBinds: BindConnection[] = [];
  private readonly groupNames = new Map<string, { group: GroupRef; at: number }>();
  private service: Promise<Connection> | undefined;
  private serviceConnection: Connection | undefined;
  private domain: Promise<DomainInfo> | undefined;
  private closed = false;
  /**
   * No domain controller answering, as the log tells it: lost, still down (with the requests
   * refused), back. Without it every refused sign-in wrote its own warn lines (one per DC tried,
   * then "no domain controller"): a flood under load, exactly when people read the log.
   */
  private readonly outage: OutageLog;

  constructor(
    private readonly config: LdapConfig,
    logger: Logger,
    options: ActiveDirectoryOptions = {},
  ) {
    this.log = logger.child({ component: 'active-directory' });
    this.ca = config.caFile === undefined ? undefined : readFileSync(config.caFile);
    this.bindSlots = new Slots(options.maxConcurrentBinds ?? 8);
    this.onBind = options.onBind ?? (() => undefined);
    this.clock = options.clock ?? systemClock;
    this.outage = new OutageLog(
      this.log,
      { what: 'Active Directory', impact: 'no domain controller answers; sign-ins and password changes fail with 503 until one does' },
      options.outageReportMs ?? 10_000,
      this.clock,
    );
    const cleartext = config.urls.filter((u) => u.startsWith('ldap:'));
    if (cleartext.length > 0 && !config.startTls) {
      this.log.warn({ urls: cleartext }, 'LDAP without TLS: passwords cross the network in clear text; use ldaps:// or startTls');
    }
  }

  async authenticate(username: string, password: string): Promise<AuthResult> {
    this.assertOpen();
    const user = username.slice(0, LOGGED_NAME_LENGTH);
    const fail = (reason: AuthFailureReason, detail: string): AuthResult => {
      // The reason is for the log and the web layer's wording; a wrong password and an unknown user
      // both arrive as invalid_credentials, so the caller cannot tell them apart.
      if (reason === 'directory_unavailable') this.refusedUnavailable(detail, { user, reason, detail }, 'sign-in failed: no domain controller');
      else this.log.info({ user, reason, detail }, 'sign-in failed');
      return { ok: false, reason, detail };
    };

    try {
      const found = await this.locate(username, password);
      if (!found.ok) return fail('invalid_credentials', found.detail);
      const { entry, domain } = found;

      const bind = await this.checkPassword(entry.dn, found.password);
      if (!bind.ok) return fail(bind.reason, `${entry.dn}: ${bind.detail}`);

      const principal = await this.toPrincipal(entry, domain, bind.tokenSids);
      this.log.info({ user, dn: principal.dn, dc: bind.url, groups: principal.groups.length }, 'sign-in succeeded');
      return { ok: true, principal };
    } catch (err) {
      if (err instanceof DirectoryUnavailable) return fail('directory_unavailable', err.message);
      throw err;
    }
  }

  async findPrincipal(username: string): Promise<Principal | undefined> {
    return this.lookUp(username, (entry, domain) => this.toPrincipal(entry, domain));
  }

  async userPrincipalNameOf(username: string): Promise<string | undefined> {
    return this.lookUp(username, async (entry, domain) => upnOf(entry, domain));
  }

  async checkAccount(username: string): Promise<AuthResult> {
    const user = username.slice(0, LOGGED_NAME_LENGTH);
    try {
      const result = await this.lookUp(username, async (entry, domain): Promise<AuthResult> => {
        // A base-scope read: the DC computes msDS-User-Account-Control-Computed (lockout, password
        // expiry against the domain's policy) only for the object asked for.
        const { searchEntries } = await this.withService('read account state', (client) =>
          client.search(entry.dn, { scope: 'base', attributes: ['userAccountControl', 'msDS-User-Account-Control-Computed', 'accountExpires', 'pwdLastSet'] }),
        );
        const state = searchEntries[0];
        const failure = accountStateFailure(
          {
            userAccountControl: Number(stringValue(state, 'userAccountControl') ?? 0),
            computed: Number(stringValue(state, 'msDS-User-Account-Control-Computed') ?? 0),
            accountExpires: BigInt(stringValue(state, 'accountExpires') ?? '0'),
            pwdLastSet: BigInt(stringValue(state, 'pwdLastSet') ?? '0'),
          },
          Date.now(),
        );
        if (failure) return { ok: false, reason: failure.reason, detail: `${entry.dn}: ${failure.detail}` };
        return { ok: true, principal: await this.toPrincipal(entry, domain) };
      });
      const outcome: AuthResult = result ?? { ok: false, reason: 'invalid_credentials', detail: 'no such user' };
      if (outcome.ok) this.log.info({ user, dn: outcome.principal.dn, groups: outcome.principal.groups.length }, 'account checked: may sign in');
      else this.log.info({ user, reason: outcome.reason, detail: outcome.detail }, 'account checked: may not sign in');
      return outcome;
    } catch (err) {
      if (err instanceof ServiceUnavailableError) return { ok: false, reason: 'directory_unavailable', detail: err.message };
      throw err;
    }
  }

  passwordChangeSupport(): PasswordChangeSupport {
    // AD refuses unicodePwd on a connection without TLS (Samba may not, which is no reason to send
    // two passwords in clear text): every configured DC must be reached encrypted.
    const cleartext = this.config.startTls ? [] : this.config.urls.filter((u) => u.startsWith('ldap:'));
    if (cleartext.length === 0) return { available: true };
    return { available: false, detail: `password change needs LDAPS (directory.ldap.urls ldaps:// or startTls); not encrypted: ${cleartext.join(', ')}` };
  }

  /**
   * The user's own change: the current password proved by a bind as the user, then one modify of
   * unicodePwd deleting the old value and adding the new, so AD applies the user's policy (history,
   * minimum age, complexity) as for Ctrl-Alt-Del. A password that expired or must change cannot
   * bind (AD answers 532 / 773, which proves it right); the same modify then runs on the service
   * connection, under the Change Password right AD gives Everyone — still a change with the old
   * password, never a reset. Length and complexity are checked here first so a refusal can say which
   * rule; AD decides in the end.
   */
  async changePassword(username: string, current: string, next: string): Promise<PasswordChangeResult> {
    this.assertOpen();
    const user = username.slice(0, LOGGED_NAME_LENGTH);
    const fail = (reason: PasswordChangeFailureReason, detail: string): PasswordChangeResult => {
      // No DC answering is counted and told by the outage lines, as for a sign-in (refusedUnavailable).
      if (reason === 'directory_unavailable') this.refusedUnavailable(detail, { user, reason, detail }, 'password change refused: no domain controller');
      else this.log[reason === 'change_unavailable' ? 'warn' : 'info']({ user, reason, detail }, 'password change refused');
      return { ok: false, reason, detail };
    };
    const support = this.passwordChangeSupport();
    if (!support.available) return fail('change_unavailable', support.detail);
    try {
      const found = await this.locate(username, current);
      if (!found.ok) return fail('invalid_credentials', found.detail);
      const { entry, domain } = found;
      const { dn } = entry;

      const bound = await this.bindSlots.run(() => this.bindForChange(dn, current));
      if (!bound.ok) return fail(bound.reason, `${dn}: ${bound.detail}`);
      try {
        const state = await this.passwordState(dn);
        const rule = state.policy && checkNewPassword(next, state.policy, { sAMAccountName: stringValue(entry, 'sAMAccountName') ?? '', displayName: stringValue(entry, 'displayName') });
        if (rule) return fail(rule, `${dn}: local check against the ${state.policy?.source} policy`);
        const refusal = await this.modifyPassword(dn, current, next, bound.conn);
        if (refusal) {
          const failure = classifyPasswordChangeFailure(refusal.code, refusal.message);
          const reason = failure.reason === 'policy' ? explainPolicyRefusal(state.policy, state.passwordLastSetMs, this.clock.now()) : failure.reason;
          return fail(reason, `${dn}: ${failure.detail}${failure.reason === 'policy' ? ` (${state.policy?.source ?? 'unreadable'} policy)` : ''}`);
        }
        this.log.info({ user, dn, dc: bound.conn?.url ?? 'service connection', expired: !bound.conn }, 'password changed');
        return { ok: true, userPrincipalName: upnOf(entry, domain) };
      } finally {
        if (bound.conn) void closeQuietly(bound.conn.client);
      }
    } catch (err) {
      if (err instanceof DirectoryUnavailable) return fail('directory_unavailable', err.message);
      throw err;
    }
  }

  /**
   * A connection bound as the user, for the modify (undefined: the password is right but expired or
   * must change, so the modify runs on the service connection). Not a pooled one: a connection that
   * changes a password is closed after, and changes are rare enough for a handshake each.
   */
  private async bindForChange(
    dn: string,
    current: string,
  ): Promise<{ ok: true; conn: Connection | undefined } | { ok: false; reason: AuthFailureReason; detail: string }> {
    try {
      return { ok: true, conn: await this.connectAny(dn, current, 'password change bind') };
    } catch (err) {
      if (err instanceof ResultCodeError && err.code === 49) {
        const failure = classifyBindFailure(err.message);
        if (failure.reason === 'password_expired' || failure.reason === 'password_must_change') return { ok: true, conn: undefined };
        return { ok: false, reason: failure.reason, detail: failure.detail };
      }
      if (err instanceof DirectoryUnavailable) return { ok: false, reason: 'directory_unavailable', detail: err.message };
      return { ok: false, reason: 'directory_unavailable', detail: `user bind answered ${describe(err)}` };
    }
  }

  /** The modify itself; AD's refusal comes back as a value (code and message), anything else throws. */
  private async modifyPassword(dn: string, current: string, next: string, conn: Connection | undefined): Promise<{ code: number; message: string } | undefined> {
    const changes = [
      new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwdValue(current)] }) }),
      new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwdValue(next)] }) }),
    ];
    const run = async (client: Client) => {
      try {
        await client.modify(dn, changes);
        return undefined;
      } catch (err) {
        // Returned, not thrown: withService would take an LDAP answer for a failing DC.
        if (err instanceof ResultCodeError && !isDcFailure(err)) return { code: err.code, message: err.message };
        throw err;
      }
    };
    if (conn) {
      try {
        return await run(conn.client);
      } catch (err) {
        throw new DirectoryUnavailable(`password change on ${conn.url}: ${describe(err)}`, { cause: err });
      }
    }
    return this.withService('change an expired password', (client) => run(client));
  }

  /**
   * The policy in effect for the user — the fine-grained one (msDS-ResultantPSO) when one applies,
   * else the domain's — and when the password was last set. The policy is undefined when a PSO
   * applies that the service account may not read (by default only administrators can): AD then
   * decides alone and a refusal is reported without naming the rule.
   */
  private async passwordState(dn: string): Promise<{ policy: PasswordPolicy | undefined; passwordLastSetMs: number | undefined }> {
    const { domainDn } = await this.domainInfo();
    return this.withService('read the password policy', async (client) => {
      // Base scope: msDS-ResultantPSO is computed only for the object asked for.
      const userRead = await client.search(dn, { scope: 'base', attributes: ['pwdLastSet', 'msDS-ResultantPSO'] });
      const lastSet = BigInt(stringValue(userRead.searchEntries[0], 'pwdLastSet') ?? '0');
      const passwordLastSetMs = lastSet > 0n ? fileTimeToMs(lastSet) : undefined;
      const pso = stringValue(userRead.searchEntries[0], 'msDS-ResultantPSO');
      if (pso) {
        const read = await client
          .search(pso, {
            scope: 'base',
            attributes: ['msDS-MinimumPasswordLength', 'msDS-PasswordComplexityEnabled', 'msDS-MinimumPasswordAge', 'msDS-PasswordHistoryLength'],
          })
          .catch((err: unknown) => {
            if (err instanceof ResultCodeError && !isDcFailure(err)) return undefined;
            throw err;
          });
        const entry = read?.searchEntries[0];
        const minLength = stringValue(entry, 'msDS-MinimumPasswordLength');
        if (minLength === undefined) {
          this.log.info({ dn, pso }, 'fine-grained password policy not readable by the service account; refusals will not name the rule');
          return { policy: undefined, passwordLastSetMs };
        }
        return {
          passwordLastSetMs,
          policy: {
            minLength: Number(minLength),
            complexity: stringValue(entry, 'msDS-PasswordComplexityEnabled')?.toUpperCase() === 'TRUE',
            minAgeMs: intervalToMs(stringValue(entry, 'msDS-MinimumPasswordAge')),
            historyLength: Number(stringValue(entry, 'msDS-PasswordHistoryLength') ?? 0),
            source: pso,
          },
        };
      }
      const head = await client.search(domainDn, { scope: 'base', attributes: ['minPwdLength', 'pwdProperties', 'minPwdAge', 'pwdHistoryLength'] });
      const entry = head.searchEntries[0];
      const minLength = stringValue(entry, 'minPwdLength');
      if (minLength === undefined) return { policy: undefined, passwordLastSetMs };
      return {
        passwordLastSetMs,
        policy: {
          minLength: Number(minLength),
          // DOMAIN_PASSWORD_COMPLEX
          complexity: (Number(stringValue(entry, 'pwdProperties') ?? 0) & 1) === 1,
          minAgeMs: intervalToMs(stringValue(entry, 'minPwdAge')),
          historyLength: Number(stringValue(entry, 'pwdHistoryLength') ?? 0),
          source: domainDn,
        },
      };
    });
  }

  private async lookUp<T>(username: string, then: (entry: Entry, domain: DomainInfo) => Promise<T>): Promise<T | undefined> {
    this.assertOpen();
    const login = parseLoginName(username);
    if (!login.ok) return undefined;
    try {
      const domain = await this.domainInfo();
      const steps = lookupSteps(login.value, domain);
      if (!steps.ok) return undefined;
      const found = await this.findUserEntry(steps.value);
      return found.entry ? await then(found.entry, domain) : undefined;
    } catch (err) {
      if (err instanceof DirectoryUnavailable) {
        this.refusedUnavailable(err.message, { user: username.slice(0, LOGGED_NAME_LENGTH), detail: err.message }, 'look-up failed: no domain controller');
        throw new ServiceUnavailableError('directory_unavailable', err.message, { cause: err });
      }
      throw err;
    }
  }

  /**
   * A request refused because no DC answered: counted for the outage lines, its own line at debug
   * while an outage is being reported (at warn otherwise: a DirectoryUnavailable that did not come
   * from a DC failing, such as an unreadable attribute, is no outage).
   */
  private refusedUnavailable(cause: string, fields: Record<string, unknown>, msg: string): void {
    if (this.outage.down) {
      this.outage.failed(cause);
      this.log.debug(fields, msg);
    } else {
      this.log.warn(fields, msg);
    }
  }

  async health(): Promise<HealthResult> {
    this.assertOpen();
    try {
      const url = await this.withService(`search ${this.config.baseDn}`, async (client, conn) => {
        await client.search(this.config.baseDn, { scope: 'base', attributes: ['objectClass'] });
        return conn.url;
      });
      return { ok: true, detail: `service account searched ${this.config.baseDn} on ${url}` };
    } catch (err) {
      if (err instanceof DirectoryUnavailable) return { ok: false, detail: err.message };
      throw err;
    }
  }

  /**
   * The DC's clock: rootDSE currentTime (GeneralizedTime, whole seconds), for `openfed doctor` —
   * Kerberos and SAML both break when clocks drift apart by minutes.
   */
  async currentTime(): Promise<{ url: string; time: Date }> {
    this.assertOpen();
    const { url, value } = await this.withService('read rootDSE currentTime', async (client, conn) => {
      const { searchEntries } = await client.search('', { scope: 'base', attributes: ['currentTime'] });
      return { url: conn.url, value: stringValue(searchEntries[0], 'currentTime') };
    });
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(value ?? '');
    if (!m) throw new DirectoryUnavailable(`rootDSE of ${url} has no readable currentTime`);
    const [, y, mo, d, h, mi, sec] = m.map(Number) as [number, number, number, number, number, number, number];
    return { url, time: new Date(Date.UTC(y, mo - 1, d, h, mi, sec)) };
  }

  /**
   * The domain's account lockout threshold (lockoutThreshold on the domain head; 0 = no lockout), for
   * `openfed doctor`: extranet lockout only protects accounts while its threshold is below this one.
   */
  async domainLockoutThreshold(): Promise<{ url: string; domain: string; threshold: number }> {
    this.assertOpen();
    return this.withService('read the domain lockout policy', async (client, conn) => {
      const rootDse = await client.search('', { scope: 'base', attributes: ['defaultNamingContext'] });
      const domain = stringValue(rootDse.searchEntries[0], 'defaultNamingContext');
      if (!domain) throw new DirectoryUnavailable(`rootDSE of ${conn.url} names no defaultNamingContext`);
      const head = await client.search(domain, { scope: 'base', filter: '(objectClass=domain)', attributes: ['lockoutThreshold'] });
      const threshold = Number(stringValue(head.searchEntries[0], 'lockoutThreshold'));
      if (!Number.isInteger(threshold) || threshold < 0) throw new DirectoryUnavailable(`${domain} has no readable lockoutThreshold`);
      return { url: conn.url, domain, threshold };
    });
  }

  /**
   * The accounts holding a service principal name (HTTP/sts.contoso.com, no realm) and their key
   * version numbers, for `openfed doctor`: a keytab only decrypts tickets while its kvno is the
   * account's msDS-KeyVersionNumber (a password reset after ktpass moves it on), and an SPN on two
   * accounts makes the KDC refuse it (setspn -X). keyVersion is undefined when the service account
   * may not read it.
   */
  async servicePrincipalHolders(spn: string): Promise<{ url: string; holders: { dn: string; account: string | undefined; keyVersion: number | undefined }[] }> {
    this.assertOpen();
    const { domainDn } = await this.domainInfo();
    return this.withService(`find the accounts with SPN ${spn}`, async (client, conn) => {
      const { searchEntries } = await client.search(domainDn, {
        scope: 'sub',
        filter: servicePrincipalFilter(spn),
        attributes: ['sAMAccountName', 'msDS-KeyVersionNumber'],
      });
      const holders = searchEntries.map((entry) => {
        const kvno = Number(stringValue(entry, 'msDS-KeyVersionNumber') ?? Number.NaN);
        return { dn: entry.dn, account: stringValue(entry, 'sAMAccountName'), keyVersion: Number.isInteger(kvno) ? kvno : undefined };
      });
      return { url: conn.url, holders };
    });
  }

  /**
   * The users in `scope` as Entra Connect would read them, for `openfed m365 readiness`. A group is
   * named by DN, sAMAccountName or cn; its members are found transitively by the DC. A scope that
   * names nothing (no such OU or group) throws BadRequestError; no DC, ServiceUnavailableError.
   */
  async listUsers(scope: UserScope): Promise<DirectoryUserRecord[]> {
    this.assertOpen();
    try {
      const groupDn = 'group' in scope ? await this.groupDnOf(scope.group) : undefined;
      const base = 'ou' in scope ? scope.ou : this.config.baseDn;
      const entries = await this.withService(`list the users under ${base}`, async (client) => {
        try {
          const { searchEntries } = await client.search(base, {
            scope: 'sub',
            filter: usersInScopeFilter(groupDn),
            attributes: LISTED_USER_ATTRIBUTES,
            explicitBufferAttributes: BINARY_ATTRIBUTES,
            paged: { pageSize: USER_PAGE_SIZE },
          });
          return searchEntries;
        } catch (err) {
          // Returned, not thrown: withService would take any other error for a failing DC.
          if (err instanceof ResultCodeError && err.code === 32) return undefined;
          throw err;
        }
      });
      if (!entries) throw new BadRequestError(`${base} does not exist`);
      return entries.map(userRecordOf);
    } catch (err) {
      if (err instanceof DirectoryUnavailable) throw new ServiceUnavailableError('directory_unavailable', err.message, { cause: err });
      throw err;
    }
  }

  private async groupDnOf(group: string): Promise<string> {
    const byDn = /=.*,\s*dc=/i.test(group);
    const base = byDn ? group : (await this.domainInfo()).domainDn;
    const { searchEntries } = await this.withService(`find group ${group}`, async (client) => {
      try {
        return await client.search(base, {
          scope: byDn ? 'base' : 'sub',
          filter: byDn ? groupFilter() : groupByNameFilter(group),
          attributes: ['cn'],
        });
      } catch (err) {
        if (err instanceof ResultCodeError && err.code === 32) return { searchEntries: [] };
        throw err;
      }
    });
    const [first, ...more] = searchEntries;
    if (!first) throw new BadRequestError(`no group ${group}`);
    if (more.length > 0) throw new BadRequestError(`${searchEntries.length} groups are named ${group}: give its DN`);
    return first.dn;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.outage.stop();
    const conn = await this.service?.catch(() => undefined);
    this.service = undefined;
    this.serviceConnection = undefined;
    const idle = this.idleBinds.splice(0);
    await Promise.all([...(conn ? [conn] : []), ...idle].map((c) => closeQuietly(c.client)));
  }

  // ------------------------------------------------------------------------------------ lookups

  /**
   * What a sign-in and a password change do first: the typed name parsed, the password's form
   * checked, and the user a password is about to be checked for found. Any failure here is
   * invalid_credentials; throws DirectoryUnavailable when no DC answers. When there is no such user,
   * a bind anyway, as a name that cannot exist: answering "no such user" one bind sooner than "wrong
   * password" would let anyone enumerate accounts with a stopwatch.
   */
  private async locate(
    username: string,
    password: string,
  ): Promise<{ ok: true; entry: Entry; domain: DomainInfo; password: string } | { ok: false; detail: string }> {
    const login = parseLoginName(username);
    if (!login.ok) return { ok: false, detail: login.detail };
    const pw = checkPassword(password);
    if (!pw.ok) return { ok: false, detail: pw.detail };
    const domain = await this.domainInfo();
    const steps = lookupSteps(login.value, domain);
    if (!steps.ok) return { ok: false, detail: steps.detail };
    const found = await this.findUserEntry(steps.value);
    if (!found.entry) {
      await this.checkPassword(`CN=openfed-no-such-user-${randomUUID()},${this.config.baseDn}`, pw.value).catch(() => undefined);
      return { ok: false, detail: found.detail };
    }
    return { ok: true, entry: found.entry, domain, password: pw.value };
  }

  /** Runs the lookup steps in order; the first step that finds anyone decides. */
  private async findUserEntry(steps: readonly LookupStep[]): Promise<{ entry?: Entry; detail: string }> {
    for (const step of steps) {
      const { searchEntries } = await this.withService(`find user by ${step.attribute}`, (client) =>
        client.search(this.config.baseDn, {
          scope: 'sub',
          filter: userFilter(step.attribute, step.value),
          attributes: [...USER_ATTRIBUTES, ...this.config.extraAttributes],
          explicitBufferAttributes: BINARY_ATTRIBUTES,
        }),
      );
      if (searchEntries.length === 1) return { entry: searchEntries[0], detail: `found by ${step.attribute}` };
      if (searchEntries.length > 1) {
        // Picking one would sign the user in as whoever sorts first; AD FS refuses too.
        return { detail: `${searchEntries.length} users have this ${step.attribute}` };
      }
    }
    return { detail: 'no such user' };
  }

  /** `tokenSids`: the rootDSE tokenGroups of the user's own bind, when there was one. */
  private async toPrincipal(entry: Entry, domain: DomainInfo, tokenSids?: Buffer[]): Promise<Principal> {
    const objectGuid = bufferValue(entry, 'objectGUID');
    const sam = stringValue(entry, 'sAMAccountName');
    if (!objectGuid || !sam) throw new DirectoryUnavailable(`${entry.dn} lacks objectGUID or sAMAccountName (no read access?)`);
    const userPrincipalName = upnOf(entry, domain);
    const attributes: Record<string, string[]> = {};
    for (const name of this.config.extraAttributes) attributes[name] = stringValues(entry, name);
    return {
      dn: entry.dn,
      objectGuid,
      consistencyGuid: bufferValue(entry, 'mS-DS-ConsistencyGuid'),
      userPrincipalName,
      sAMAccountName: sam,
      netbiosDomain: domain.netbiosDomain,
      mail: stringValue(entry, 'mail'),
      displayName: stringValue(entry, 'displayName'),
      givenName: stringValue(entry, 'givenName'),
      sn: stringValue(entry, 'sn'),
      groups: await this.groupsOf(entry, domain, tokenSids),
      attributes,
    };
  }

  /**
   * Transitive groups, sorted by name. Both modes keep the primary group (usually Domain Users),
   * which Windows puts in every token and AD FS emits, and both drop BUILTIN aliases (S-1-5-32-*).
   */
  private async groupsOf(user: Entry, domain: DomainInfo, tokenSids: Buffer[] | undefined): Promise<GroupRef[]> {
    const groups =
      this.config.groupLookup === 'tokenGroups'
        ? await this.tokenGroups(user, domain, tokenSids)
        : (await this.inChainGroupEntries(user, domain)).map(groupRefOf);
    return groups.filter((g) => !g.sid.startsWith(BUILTIN_DOMAIN_SID_PREFIX)).sort((a, b) => byName(a.name, b.name));
  }

  /**
   * tokenGroups is what Windows puts in a logon token: security groups only, nested ones resolved.
   * Without a bind of the user's own (findPrincipal) it is read from the user object, which the DC
   * computes on a base-scope read.
   */
  private async tokenGroups(user: Entry, domain: DomainInfo, tokenSids: Buffer[] | undefined): Promise<GroupRef[]> {
    let sids: Buffer[];
    const userSid = bufferValue(user, 'objectSid');
    if (tokenSids && userSid) {
      sids = groupSidsOfToken(tokenSids, userSid);
    } else {
      const { searchEntries } = await this.withService('read tokenGroups', (client) =>
        client.search(user.dn, { scope: 'base', attributes: ['tokenGroups'], explicitBufferAttributes: BINARY_ATTRIBUTES }),
      );
      sids = bufferValues(searchEntries[0], 'tokenGroups');
    }
    sids = sids.filter((sid) => !sidToString(sid).startsWith(BUILTIN_DOMAIN_SID_PREFIX));
    const named = await this.nameSids(sids, domain);
    if (named.length < sids.length) {
      // SIDs of other domains in the forest are not under our domain; they have no name we can give.
      this.log.debug({ dn: user.dn, unresolved: sids.length - named.length }, 'some token group SIDs are outside the domain');
    }
    return named;
  }

  /** Names group SIDs from the cache, and the rest with one OR search. */
  private async nameSids(sids: readonly Buffer[], domain: DomainInfo): Promise<GroupRef[]> {
    const now = this.clock.now();
    const named: GroupRef[] = [];
    const missing: Buffer[] = [];
    for (const sid of sids) {
      const hit = this.groupNames.get(sidToString(sid));
      // A copy: a principal is the caller's to change, the cache is not.
      if (hit && now - hit.at < GROUP_NAME_TTL_MS) named.push({ ...hit.group });
      else missing.push(sid);
    }
    if (missing.length === 0) return named;
    const found = (await this.searchGroups(domain, sidsFilter(missing), 'name tokenGroups')).map(groupRefOf);
    if (this.groupNames.size + found.length > GROUP_NAME_CACHE_MAX) this.groupNames.clear();
    for (const group of found) {
      if (group.sid) this.groupNames.set(group.sid, { group: { ...group }, at: now });
      named.push(group);
    }
    return named;
  }

  /** One search with LDAP_MATCHING_RULE_IN_CHAIN: the DC walks nested membership, distribution groups included. */
  private async inChainGroupEntries(user: Entry, domain: DomainInfo): Promise<Entry[]> {
    const sid = bufferValue(user, 'objectSid');
    const rid = Number(stringValue(user, 'primaryGroupID'));
    const primary = sid && Number.isInteger(rid) && rid > 0 ? primaryGroupSid(sid, rid) : undefined;
    return this.searchGroups(domain, groupsOfFilter(user.dn, primary), 'in-chain groups');
  }

  private async searchGroups(domain: DomainInfo, filter: Filter, what: string): Promise<Entry[]> {
    const { searchEntries } = await this.withService(what, (client) =>
      client.search(domain.domainDn, {
        scope: 'sub',
        filter,
        attributes: ['sAMAccountName', 'objectSid'],
        explicitBufferAttributes: BINARY_ATTRIBUTES,
        paged: { pageSize: GROUP_PAGE_SIZE },
      }),
    );
    return searchEntries;
  }

  /**
   * The domain's DNS and NetBIOS names from its crossRef in CN=Partitions, read once. The domain is
   * the DC= tail of baseDn, so a baseDn inside an OU still finds its domain.
   */
  private domainInfo(): Promise<DomainInfo> {
    if (!this.domain) {
      const loading = this.loadDomainInfo();
      this.domain = loading;
      // A failure must not be cached: the next sign-in tries again.
      loading.catch(() => {
        if (this.domain === loading) this.domain = undefined;
      });
    }
    return this.domain;
  }

  private async loadDomainInfo(): Promise<DomainInfo> {
    const root = await this.withService('read rootDSE', (client) =>
      client.search('', { scope: 'base', attributes: ['defaultNamingContext', 'configurationNamingContext'] }),
    );
    const rootDse = root.searchEntries[0];
    const domainDn = domainDnOf(this.config.baseDn) ?? stringValue(rootDse, 'defaultNamingContext');
    const configurationDn = stringValue(rootDse, 'configurationNamingContext');
    if (!domainDn || !configurationDn) throw new DirectoryUnavailable('rootDSE lacks the naming contexts: is this Active Directory?');

    const refs = await this.withService('read the domain crossRef', (client) =>
      client.search(`CN=Partitions,${configurationDn}`, {
        scope: 'one',
        filter: crossRefFilter(domainDn),
        attributes: ['nETBIOSName', 'dnsRoot'],
      }),
    );
    const crossRef = refs.searchEntries[0];
    const netbiosDomain = this.config.netbiosDomain ?? stringValue(crossRef, 'nETBIOSName');
    if (!netbiosDomain) {
      throw new DirectoryUnavailable(`no nETBIOSName for ${domainDn} in CN=Partitions; set directory.ldap.netbiosDomain`);
    }
    const dnsDomain = stringValue(crossRef, 'dnsRoot') ?? dnsNameOf(domainDn);
    this.log.info({ domainDn, dnsDomain, netbiosDomain }, 'domain names read');
    return { domainDn, dnsDomain, netbiosDomain, alternateLoginAttribute: this.config.alternateLoginAttribute };
  }

  // ------------------------------------------------------------------------------------ binds

  /** A simple bind as the user, on a pooled user-bind connection (bindAsUser). */
  private checkPassword(
    dn: string,
    password: string,
  ): Promise<{ ok: true; url: string; tokenSids?: Buffer[] } | { ok: false; reason: AuthFailureReason; detail: string }> {
    return this.bindSlots.run(async () => {
      // Timed inside the slot: the histogram shows the DC's answer time, not the queue in front of it.
      const started = performance.now();
      const timed = <R extends { ok: boolean; reason?: AuthFailureReason }>(result: R): R => {
        const outcome: BindOutcome = result.ok ? 'success' : result.reason === 'directory_unavailable' ? 'unavailable' : 'rejected';
        this.onBind(outcome, (performance.now() - started) / 1000);
        return result;
      };
      try {
        const conn = await this.bindAsUser(dn, password);
        const result = timed({ ok: true as const, url: conn.url });
        const tokenSids = this.config.groupLookup === 'tokenGroups' ? await this.readOwnToken(conn) : undefined;
        if (tokenSids === null) return result;
        this.releaseBind(conn);
        return tokenSids ? { ...result, tokenSids } : result;
      } catch (err) {
        if (err instanceof ResultCodeError && err.code === 49) {
          const failure = classifyBindFailure(err.message);
          return timed({ ok: false as const, reason: failure.reason, detail: failure.detail });
        }
        if (err instanceof DirectoryUnavailable) return timed({ ok: false as const, reason: 'directory_unavailable' as const, detail: err.message });
        // Any other answer to a simple bind (strongAuthRequired, confidentialityRequired...) is a
        // DC policy the configuration does not meet: the user cannot fix it.
        return timed({ ok: false as const, reason: 'directory_unavailable' as const, detail: `user bind answered ${describe(err)}` });
      }
    });
  }

  /**
   * Binds as `dn` on an idle pooled connection, else on a new one (DCs in order), and returns it
   * bound: the caller puts it back after reading the token. A connection goes back to the pool
   * after success or after AD's answer to a bad bind (49: the connection is
   * then anonymous, as after any failed bind); after anything else it is closed. A pooled
   * connection that turns out dead (the DC closed it, or it fails in transit) is closed with the
   * other idle ones to its DC, and the bind runs once more on a new connection, as it would have
   * without the pool.
   */
  private async bindAsUser(dn: string, password: string): Promise<BindConnection> {
    let conn = this.takeIdleBind();
    if (conn) {
      try {
        await conn.client.bind(dn, password);
      } catch (err) {
        if (!isDcFailure(err)) {
          if (err instanceof ResultCodeError && err.code === 49) this.releaseBind(conn);
          else void closeQuietly(conn.client);
          throw err;
        }
        this.log.warn({ dc: conn.url, err: describe(err) }, 'pooled bind connection failed; binding on a new one');
        void closeQuietly(conn.client);
        this.dropIdleBinds(conn.url);
        conn = undefined;
      }
    }
    if (conn) return conn;
    const pooled = (c: Connection): BindConnection => ({ ...c, openedAt: this.clock.now(), idleSince: this.clock.now() });
    // A refused bind leaves a usable connection too: a burst of wrong passwords must not cost a handshake each.
    return pooled(await this.connectAny(dn, password, 'user bind', (refused) => this.releaseBind(pooled(refused))));
  }

  /**
   * The SIDs of the token the DC built for the bind just made on `conn` (rootDSE tokenGroups,
   * [MS-ADTS] 3.1.1.3.2.x): undefined when the DC gave none, so the caller reads the user object
   * instead; null when the connection failed and was closed. Never fails the sign-in: the password
   * was right.
   */
  private async readOwnToken(conn: BindConnection): Promise<Buffer[] | undefined | null> {
    try {
      const { searchEntries } = await conn.client.search('', {
        scope: 'base',
        attributes: ['tokenGroups'],
        explicitBufferAttributes: BINARY_ATTRIBUTES,
      });
      const sids = bufferValues(searchEntries[0], 'tokenGroups');
      return sids.length > 0 ? sids : undefined;
    } catch (err) {
      this.log.debug({ dc: conn.url, err: describe(err) }, 'rootDSE tokenGroups unreadable; reading the user object instead');
      if (!isDcFailure(err)) return undefined;
      void closeQuietly(conn.client);
      return null;
    }
  }

  /** The most recently used idle connection still worth using; closes the stale ones it passes. */
  private takeIdleBind(): BindConnection | undefined {
    const now = this.clock.now();
    for (let conn = this.idleBinds.pop(); conn; conn = this.idleBinds.pop()) {
      const stale =
        !conn.client.isConnected ||
        now - conn.idleSince > BIND_CONNECTION_IDLE_MS ||
        (conn.url !== this.config.urls[0] && now - conn.openedAt > BIND_CONNECTION_FALLBACK_MS);
      if (!stale) return conn;
      void closeQuietly(conn.client);
    }
    return undefined;
  }

  private releaseBind(conn: BindConnection): void {
    // Each bind in flight holds one connection, so the pool stays within the bind slots.
    if (this.closed) {
      void closeQuietly(conn.client);
      return;
    }
    conn.idleSince = this.clock.now();
    this.idleBinds.push(conn);
  }

  private dropIdleBinds(url: string): void {
    for (let i = this.idleBinds.length - 1; i >= 0; i--) {
      const conn = this.idleBinds[i];
      if (conn?.url !== url) continue;
      this.idleBinds.splice(i, 1);
      void closeQuietly(conn.client);
    }
  }

  /**
   * Runs `op` on the service connection, opening it first if needed. A connection that fails in
   * the middle (DC gone, idle connection closed by the DC) is dropped and the operation runs once
   * more on a fresh one, which may land on the next DC. Throws only DirectoryUnavailable.
   */
  private async withService<T>(what: string, op: (client: Client, conn: Connection) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const conn = await this.openService();
      try {
        return await op(conn.client, conn);
      } catch (err) {
        if (!isDcFailure(err)) throw new DirectoryUnavailable(`${what} on ${conn.url}: ${describe(err)}`, { cause: err });
        lastError = err;
        this.log[this.outage.down ? 'debug' : 'warn']({ dc: conn.url, what, err: describe(err) }, 'service connection failed; reconnecting');
        this.dropService(conn);
      }
    }
    throw new DirectoryUnavailable(`${what}: ${describe(lastError)}`, { cause: lastError });
  }

  private openService(): Promise<Connection> {
    if (!this.service) {
      const opening = this.connectAny(this.config.bindDn, this.config.bindPassword, 'service bind').then(
        (conn) => {
          this.serviceConnection = conn;
          this.log.info({ dc: conn.url }, 'service connection open');
          return conn;
        },
        (err: unknown) => {
          if (this.service === opening) this.service = undefined;
          if (err instanceof DirectoryUnavailable) throw err;
          // The DC answered the service bind with an error: a wrong bindDn/bindPassword, most likely.
          throw new DirectoryUnavailable(`service account bind refused: ${describe(err)}`, { cause: err });
        },
      );
      this.service = opening;
    }
    return this.service;
  }

  private dropService(conn: Connection): void {
    if (this.serviceConnection === conn) {
      this.serviceConnection = undefined;
      this.service = undefined;
    }
    void closeQuietly(conn.client);
  }

  /** Opens and binds a connection on the first DC that works, in configured order. */
  private async connectAny(bindDn: string, password: string, purpose: string, keepRefused?: (conn: Connection) => void): Promise<Connection> {
    const failures: string[] = [];
    for (const url of this.config.urls) {
      try {
        const client = await this.connect(url, bindDn, password, keepRefused && ((c) => keepRefused({ client: c, url })));
        this.outage.ok();
        return { client, url };
      } catch (err) {
        if (!isDcFailure(err)) throw err;
        failures.push(`${url}: ${describe(err)}`);
        // One DC failing while another answers is worth a warn each time; during an outage the
        // outage lines speak for all of them.
        this.log[this.outage.down ? 'debug' : 'warn']({ dc: url, purpose, err: describe(err) }, 'domain controller failed; trying the next');
      }
    }
    const message = `no domain controller answered (${failures.join('; ')})`;
    // Starts the outage (the request is counted where it is refused, see refusedUnavailable).
    if (!this.outage.down) this.outage.failed(message, { refused: false });
    throw new DirectoryUnavailable(message);
  }

  /** `keepRefused` takes the connection when the DC answered the bind with 49; else a failed connection is closed. */
  private async connect(url: string, bindDn: string, password: string, keepRefused?: (client: Client) => void): Promise<Client> {
    const host = hostOf(url);
    const ldaps = url.startsWith('ldaps:');
    const client = new Client({
      url,
      connectTimeout: this.config.connectTimeoutMs,
      timeout: this.config.timeoutMs,
      // DNs passed to bind come from the DC itself; client-side parsing could only reject valid ones.
      strictDN: false,
      // TLS options on an ldap:// client would make ldapts speak TLS at once, so only for ldaps.
      ...(ldaps
        ? { tlsOptions: this.tlsOptions(host), createSecureConnection: oneConnection(tls.connect) }
        : { createConnection: oneConnection(net.connect) }),
    });
    try {
      if (!ldaps && this.config.startTls) {
        // startTLS() stores the socket in the object it is given, so every call gets a new one.
        // The TLS handshake after the extended operation has no timeout of its own in ldapts.
        await withDeadline(client.startTLS(this.tlsOptions(host)), this.config.timeoutMs, 'StartTLS handshake');
      }
    } catch (err) {
      await closeQuietly(client);
      throw err;
    }
    try {
      await client.bind(bindDn, password);
      return client;
    } catch (err) {
      if (keepRefused && err instanceof ResultCodeError && err.code === 49) keepRefused(client);
      else await closeQuietly(client);
      throw err;
    }
  }

  private tlsOptions(host: string): tls.ConnectionOptions {
    return {
      host,
      ...(this.ca ? { ca: this.ca } : {}),
      rejectUnauthorized: this.config.rejectUnauthorized,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('ActiveDirectory used after close()');
  }
}

// ------------------------------------------------------------------------------------ helpers

/**
 * Wraps ldapts's socket factory so one Client makes exactly one connection. Without this ldapts
 * reconnects transparently after the DC drops a connection, and the next operation would run
 * unauthenticated, or in clear text on what was a StartTLS connection. Failing instead lets
 * withService reconnect properly, through bind and TLS, possibly to another DC.
 */
function oneConnection<F extends (...args: never[]) => net.Socket>(connect: F): F {
  let used = false;
  return ((...args: Parameters<F>) => {
    if (used) throw new Error('LDAP connection lost');
    used = true;
    return connect(...args);
  }) as F;
}

/**
 * True when another DC might do better: the connection failed, timed out or TLS did not verify, or
 * the DC said it is busy/unavailable. Any other LDAP result is the directory's answer.
 */
function isDcFailure(err: unknown): boolean {
  if (!(err instanceof ResultCodeError)) return true;
  return err.code === 51 /* busy */ || err.code === 52 /* unavailable */;
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  work.catch(() => {}); // it may still fail after the deadline has won
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function closeQuietly(client: Client): Promise<void> {
  try {
    await client.unbind(); // also destroys the socket, connected or not
  } catch {
    // The connection is already gone, which is all we wanted.
  }
}

function describe(err: unknown): string {
  if (err instanceof ResultCodeError) return `${err.name} (${err.code}): ${err.message}`;
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}

function hostOf(url: string): string {
  const { hostname } = new URL(url);
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

/** The DC=... tail of a DN: OU=People,DC=corp,DC=com -> DC=corp,DC=com. */
export function domainDnOf(dn: string): string | undefined {
  const rdns = dn.split(/(?<!\\),/).map((rdn) => rdn.trim());
  let start = rdns.length;
  while (start > 0 && /^dc=/i.test(rdns[start - 1] ?? '')) start--;
  return start < rdns.length ? rdns.slice(start).join(',') : undefined;
}

/** DC=corp,DC=example,DC=com -> corp.example.com, for a domain whose crossRef we cannot read. */
function dnsNameOf(domainDn: string): string {
  return domainDn
    .split(',')
    .map((rdn) => rdn.trim().replace(/^dc=/i, ''))
    .join('.')
    .toLowerCase();
}

/** A user without an explicit UPN still has the implicit one, as Windows shows it. */
function upnOf(entry: Entry, domain: DomainNames): string {
  const upn = stringValue(entry, 'userPrincipalName');
  if (upn) return upn;
  const sam = stringValue(entry, 'sAMAccountName');
  if (!sam) throw new DirectoryUnavailable(`${entry.dn} lacks sAMAccountName (no read access?)`);
  return `${sam}@${domain.dnsDomain}`;
}

function userRecordOf(entry: Entry): DirectoryUserRecord {
  const objectGuid = bufferValue(entry, 'objectGUID');
  const sam = stringValue(entry, 'sAMAccountName');
  if (!objectGuid || !sam) throw new DirectoryUnavailable(`${entry.dn} lacks objectGUID or sAMAccountName (no read access?)`);
  const record: DirectoryUserRecord = {
    dn: entry.dn,
    sAMAccountName: sam,
    proxyAddresses: stringValues(entry, 'proxyAddresses'),
    objectGuid,
    userAccountControl: Number(stringValue(entry, 'userAccountControl') ?? 0),
  };
  const upn = stringValue(entry, 'userPrincipalName');
  if (upn !== undefined) record.userPrincipalName = upn;
  const mail = stringValue(entry, 'mail');
  if (mail !== undefined) record.mail = mail;
  const displayName = stringValue(entry, 'displayName');
  if (displayName !== undefined) record.displayName = displayName;
  const consistencyGuid = bufferValue(entry, 'mS-DS-ConsistencyGuid');
  if (consistencyGuid !== undefined) record.consistencyGuid = consistencyGuid;
  return record;
}

function groupRefOf(group: Entry): GroupRef {
  const sidBytes = bufferValue(group, 'objectSid');
  return { name: stringValue(group, 'sAMAccountName') ?? '', sid: sidBytes ? sidToString(sidBytes) : '', dn: group.dn };
}

/**
 * The group SIDs of a logon token: those of the user's own domain but the user's SID. The token
 * also holds the user, well-known SIDs (Everyone, Authenticated Users, Network...), BUILTIN aliases
 * and SIDs of other domains (sIDHistory); none of those names a group of this domain.
 */
export function groupSidsOfToken(tokenSids: readonly Buffer[], userSid: Buffer): Buffer[] {
  const domainPart = userSid.subarray(0, userSid.length - 4);
  return tokenSids.filter(
    (sid) => sid.length === userSid.length && sid.subarray(0, sid.length - 4).equals(domainPart) && !sid.equals(userSid),
  );
}

/** Attribute values by name, whatever case the DC used for the name. */
function rawValues(entry: Entry | undefined, name: string): (string | Buffer)[] {
  if (!entry) return [];
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key === undefined || key === 'dn') return [];
  const value = entry[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function stringValues(entry: Entry | undefined, name: string): string[] {
  // A binary value of a configured extra attribute travels as base64 rather than mangled UTF-8.
  return rawValues(entry, name).map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v));
}

function stringValue(entry: Entry | undefined, name: string): string | undefined {
  const [first] = rawValues(entry, name);
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : first;
}

/** Only Buffers: a binary value ldapts decoded as text is already corrupt, better missing than wrong. */
function bufferValues(entry: Entry | undefined, name: string): Buffer[] {
  return rawValues(entry, name).filter((v): v is Buffer => Buffer.isBuffer(v));
}

function bufferValue(entry: Entry | undefined, name: string): Buffer | undefined {
  const [first] = bufferValues(entry, name);
  return first;
}

/** A counting semaphore: at most `size` tasks run at once, the rest wait in arrival order. */
class Slots {
  private readonly waiting: (() => void)[] = [];

  constructor(private free: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
