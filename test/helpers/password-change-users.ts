/**
 * Users of one test file's own, in an OU of their own on the shared Samba DC, for password-change
 * tests: other files sign in as the seeded users, whose passwords must never change. remove()
 * deletes the OU and the fine-grained policies made here (call it in after(), so also on failure).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { applyLdifAsAdmin, deleteTreeAsAdmin, type AdFacts } from './ad.js';

const run = promisify(execFile);

export interface ChangeUser {
  sam: string;
  upn: string;
  dn: string;
  password: string;
}

/** Samba's local-only control that lets pwdLastSet be written with any time (LDAP accepts only 0 and -1). */
const BYPASS_LAST_SET = 'local_oid:1.3.6.1.4.1.7165.4.3.20:0';
const DAY_TICKS = 864_000_000_000n;
const FILETIME_UNIX_EPOCH = 116_444_736_000_000_000n;

const pwd = (password: string) => Buffer.from(`"${password}"`, 'utf16le').toString('base64');

export class ChangeUsers {
  readonly ou: string;
  private readonly psos: string[] = [];
  private readonly tag: string;

  constructor(
    private readonly ad: AdFacts,
    name: string,
  ) {
    this.tag = `${name}-${process.pid}`;
    this.ou = `OU=${this.tag},${ad.baseDn}`;
  }

  async setUp(): Promise<void> {
    await deleteTreeAsAdmin(this.ad, this.ou); // a run killed before its after()
    await applyLdifAsAdmin(this.ad, `dn: ${this.ou}\nchangetype: add\nobjectClass: organizationalUnit\n\n`);
  }

  /** An enabled user; 'expired': pwdLastSet 60 days ago (past the domain's 42-day maxPwdAge); 'must_change': pwdLastSet 0. */
  async create(sam: string, password: string, options: { state?: 'expired' | 'must_change'; displayName?: string } = {}): Promise<ChangeUser> {
    const dn = `CN=${sam},${this.ou}`;
    const upn = `${sam}@${this.ad.dnsDomain}`;
    await applyLdifAsAdmin(
      this.ad,
      [
        `dn: ${dn}`,
        'changetype: add',
        'objectClass: user',
        `sAMAccountName: ${sam}`,
        `userPrincipalName: ${upn}`,
        ...(options.displayName ? [`displayName: ${options.displayName}`] : []),
        `unicodePwd:: ${pwd(password)}`,
        'userAccountControl: 512',
        '',
        '',
      ].join('\n'),
    );
    if (options.state === 'must_change') await applyLdifAsAdmin(this.ad, `dn: ${dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n-\n\n`);
    if (options.state === 'expired') await this.agePassword(dn, 60);
    return { sam, upn, dn, password };
  }

  /** Sets pwdLastSet `days` ago through the DC's own database (as test/setup/samba-ad.sh ages erin's). */
  async agePassword(dn: string, days: number): Promise<void> {
    const now = BigInt(Date.now()) * 10_000n + FILETIME_UNIX_EPOCH;
    const ldif = `dn: ${dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: ${now - BigInt(days) * DAY_TICKS}\n-\n`;
    const child = run('ldbmodify', ['-H', join(this.ad.dir, 'private', 'sam.ldb'), `--controls=${BYPASS_LAST_SET}`]);
    child.child.stdin?.end(ldif);
    await child;
  }

  /**
   * A fine-grained password policy for one user, readable by authenticated users (by default only
   * administrators may read PSOs, and OpenFed's service account then cannot name the rule).
   */
  async pso(user: ChangeUser, settings: { minAgeDays: number; minLength?: number; history?: number }): Promise<void> {
    const dn = `CN=${this.tag}-${user.sam},CN=Password Settings Container,CN=System,${this.ad.baseDn}`;
    this.psos.push(dn);
    await deleteTreeAsAdmin(this.ad, dn);
    await applyLdifAsAdmin(
      this.ad,
      [
        `dn: ${dn}`,
        'changetype: add',
        'objectClass: msDS-PasswordSettings',
        'msDS-PasswordSettingsPrecedence: 1',
        'msDS-PasswordReversibleEncryptionEnabled: FALSE',
        `msDS-PasswordHistoryLength: ${settings.history ?? 24}`,
        'msDS-PasswordComplexityEnabled: TRUE',
        `msDS-MinimumPasswordLength: ${settings.minLength ?? 7}`,
        `msDS-MinimumPasswordAge: ${-BigInt(settings.minAgeDays) * DAY_TICKS}`,
        `msDS-MaximumPasswordAge: ${-42n * DAY_TICKS}`,
        'msDS-LockoutThreshold: 0',
        'msDS-LockoutObservationWindow: -18000000000',
        'msDS-LockoutDuration: -18000000000',
        `msDS-PSOAppliesTo: ${user.dn}`,
        '',
        '',
      ].join('\n'),
    );
    await run('samba-tool', ['dsacl', 'set', '-s', join(this.ad.dir, 'etc', 'smb.conf'), '-H', join(this.ad.dir, 'private', 'sam.ldb'), `--objectdn=${dn}`, '--sddl=(A;;RPLCLORC;;;AU)']);
  }

  async remove(): Promise<void> {
    for (const dn of this.psos) await deleteTreeAsAdmin(this.ad, dn).catch(() => undefined);
    await deleteTreeAsAdmin(this.ad, this.ou);
  }
}
