/**
 * The demo directory: users in a YAML file with scrypt password hashes, so `npm start` works on a
 * machine without Active Directory. It yields the same Principal shape as AD and the same failure
 * reasons, so everything above it behaves as in production.
 */
import { createHash, randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse as parseYaml, parseDocument, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, formatPath } from '../config/load.js';
import type { Logger } from '../log.js';
import { guidToBytes } from './guid.js';
import { parseLoginName } from './name.js';
import { checkNewPassword, type PasswordPolicy } from './password-policy.js';
import type { AuthResult, Directory, HealthResult, PasswordChangeResult, PasswordChangeSupport, Principal } from './types.js';

export const DEMO_NETBIOS_DOMAIN = 'OPENFED';
export const DEMO_USER = 'demo@openfed.test';
export const DEMO_PASSWORD = 'OpenFed-Demo-1';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );

// OWASP's scrypt minimum (N=2^17, r=8, p=1) costs ~128 MiB per hash; 2^15 keeps the demo light
// while still being a real KDF. The parameters travel in the hash, so they can be raised later.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32 } as const;
const HASH_RE = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** `scrypt$N$r$p$salt$hash`, all base64: self-describing so parameters can change per user. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keylen } = SCRYPT;
  const key = await scrypt(password.normalize('NFC'), salt, keylen, { N, r, p, maxmem: 256 * N * r });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = HASH_RE.exec(encoded);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  if (N > 2 ** 20 || r > 32 || p > 16 || expected.length < 16) return false; // a hostile file cannot exhaust memory
  const actual = await scrypt(password.normalize('NFC'), salt, expected.length, { N, r, p, maxmem: 256 * N * r });
  return timingSafeEqual(actual, expected);
}

const demoUserSchema = z
  .object({
    userPrincipalName: z.string().includes('@'),
    sAMAccountName: z.string().min(1),
    passwordHash: z.string().regex(HASH_RE, 'expected scrypt$N$r$p$salt$hash (from openfed hash-password)'),
    // Optional so a user can be added with three lines; derived from the UPN when absent (derivedObjectGuid).
    objectGuid: z.uuid().optional(),
    consistencyGuid: z.uuid().optional(),
    mail: z.string().optional(),
    displayName: z.string().optional(),
    givenName: z.string().optional(),
    sn: z.string().optional(),
    groups: z.array(z.object({ name: z.string(), sid: z.string().default('') })).default([]),
    disabled: z.boolean().default(false),
    attributes: z.record(z.string(), z.array(z.string())).default({}),
  })
  .strict();

const demoFileSchema = z.object({ users: z.array(demoUserSchema) }).strict();
type DemoUser = z.infer<typeof demoUserSchema> & { objectGuid: string };

/**
 * A stable objectGUID for a user the file gives none: a name-based UUID (RFC 9562 version 5, SHA-1) of
 * the UPN, lower-cased and NFC as sign-in compares it. Every start and every node derive the same one,
 * so the ImmutableID a relying party keeps for the user does not change — until the UPN does, which AD's
 * objectGUID would survive; give objectGuid to pin it.
 */
function derivedObjectGuid(userPrincipalName: string): string {
  const hash = createHash('sha1').update(DEMO_GUID_NAMESPACE).update(userPrincipalName.normalize('NFC').toLowerCase(), 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The namespace of derivedObjectGuid, as bytes (a fixed random UUID: the derived GUIDs are OpenFed's own). */
const DEMO_GUID_NAMESPACE = Buffer.from('5c0f6f0e8a3b4d7e9b61c2f4a8d3e715', 'hex');

/** What the demo directory enforces on a changed password: AD's default domain policy. */
const DEMO_PASSWORD_POLICY: PasswordPolicy = { minLength: 7, complexity: true, minAgeMs: 0, historyLength: 0, source: 'demo' };

/** How often, at most, a lookup checks whether the users file changed (one stat). */
const RELOAD_CHECK_MS = 1000;

interface FileVersion {
  mtimeMs: number;
  ctimeMs: number;
  size: number;
  ino: number;
}
const sameVersion = (a: FileVersion, b: FileVersion) => a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size && a.ino === b.ino;

/**
 * Reads and checks the users file. Every mistake is a ConfigError of one line naming the file, the
 * entry (index and UPN) and the key, as configuration mistakes are: start-up prints it and exits 1.
 */
function readDemoUsers(usersFile: string): DemoUser[] {
  let text: string;
  try {
    text = readFileSync(usersFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`demo users file ${usersFile}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`demo users file ${usersFile}: not valid YAML: ${String((err as Error).message).split('\n')[0]}`);
  }
  const parsed = demoFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeUserIssue(parsed.error.issues[0], raw, usersFile));
  const users = parsed.data.users.map((u) => ({ ...u, objectGuid: u.objectGuid ?? derivedObjectGuid(u.userPrincipalName) }));
  // Two entries for one person, or one GUID for two, would make tokens for the wrong user.
  const seen = { upn: new Map<string, number>(), sam: new Map<string, number>(), guid: new Map<string, number>() };
  for (const [i, u] of users.entries()) {
    const checks: Array<[Map<string, number>, string, string]> = [
      [seen.upn, u.userPrincipalName.normalize('NFC').toLowerCase(), 'userPrincipalName'],
      [seen.sam, u.sAMAccountName.normalize('NFC').toLowerCase(), 'sAMAccountName'],
      [seen.guid, u.objectGuid.toLowerCase(), 'objectGuid'],
    ];
    for (const [map, value, key] of checks) {
      const first = map.get(value);
      if (first !== undefined) {
        throw new ConfigError(`demo users key users[${i}].${key} (${u.userPrincipalName}): the same as users[${first}] (${users[first]!.userPrincipalName}) (in ${usersFile})`);
      }
      map.set(value, i);
    }
  }
  return users;
}

function describeUserIssue(issue: z.core.$ZodIssue | undefined, raw: unknown, usersFile: string): string {
  const where = ` (in ${usersFile})`;
  if (!issue) return `demo users file ${usersFile}: invalid`;
  const path = issue.path;
  const [top, index] = path;
  // The entry's UPN, when it has one, says which user is meant more plainly than an index.
  const entry = top === 'users' && typeof index === 'number' ? (raw as { users?: unknown[] }).users?.[index] : undefined;
  const upn = entry && typeof entry === 'object' ? (entry as { userPrincipalName?: unknown }).userPrincipalName : undefined;
  const who = typeof upn === 'string' ? ` (${upn})` : '';
  const key = (p: readonly PropertyKey[]) => (p.length ? formatPath(p) : '(top level)');
  if (issue.code === 'unrecognized_keys') {
    return `demo users key ${issue.keys.map((k) => (path.length ? `${key(path)}.${k}` : k)).join(', ')}${who}: unknown key${where}`;
  }
  let expected = issue.message.replace(/^Invalid (input|option): /, '');
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) expected = `required, expected ${issue.expected}`;
  return `demo users key ${key(path)}${who}: ${expected}${where}`;
}

export class DemoDirectory implements Directory {
  readonly kind = 'demo';
  // Verifying against this when the user is unknown keeps "no such user" as slow as "wrong password".
  private readonly dummyHash: Promise<string> = hashPassword(randomUUID());

  private lastCheck = 0;
  private checking: Promise<void> | undefined;

  private constructor(
    private users: readonly DemoUser[],
    private version: FileVersion | undefined,
    private readonly usersFile: string,
    private readonly logger: Logger,
    private readonly reloadCheckMs: number,
  ) {}

  /**
   * Reads the users file; creates it with the documented demo user when it does not exist yet. The file
   * is read again when it changes (checked at most every reloadCheckMs, on a lookup), so users added to
   * it can sign in without a restart; a changed file with a mistake is logged and the users read before
   * it are kept.
   */
  static async open(usersFile: string, logger: Logger, options: { reloadCheckMs?: number } = {}): Promise<DemoDirectory> {
    if (!existsSync(usersFile)) {
      mkdirSync(dirname(usersFile), { recursive: true });
      writeFileSync(usersFile, await starterFile(), { mode: 0o600 });
      logger.warn({ usersFile }, `demo directory created with user ${DEMO_USER}`);
    }
    const version = await fileVersion(usersFile);
    const users = readDemoUsers(usersFile);
    logger.warn('using the demo directory: for trying OpenFed out, never for production');
    return new DemoDirectory(users, version, usersFile, logger, options.reloadCheckMs ?? RELOAD_CHECK_MS);
  }

  async authenticate(username: string, password: string): Promise<AuthResult> {
    if (password === '') return { ok: false, reason: 'invalid_credentials', detail: 'empty password' };
    await this.reloadIfChanged();
    const user = this.find(username);
    const valid = await verifyPassword(password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !valid) return { ok: false, reason: 'invalid_credentials', detail: user ? 'bad password' : 'no such user' };
    // As AD: the account state is only revealed once the password is right.
    if (user.disabled) return { ok: false, reason: 'account_disabled' };
    return { ok: true, principal: toPrincipal(user) };
  }

  async findPrincipal(username: string): Promise<Principal | undefined> {
    await this.reloadIfChanged();
    const user = this.find(username);
    return user && toPrincipal(user);
  }

  async checkAccount(username: string): Promise<AuthResult> {
    await this.reloadIfChanged();
    const user = this.find(username);
    if (!user) return { ok: false, reason: 'invalid_credentials', detail: 'no such user' };
    if (user.disabled) return { ok: false, reason: 'account_disabled' };
    return { ok: true, principal: toPrincipal(user) };
  }

  async userPrincipalNameOf(username: string): Promise<string | undefined> {
    return (await this.findPrincipal(username))?.userPrincipalName;
  }

  passwordChangeSupport(): PasswordChangeSupport {
    return { available: true };
  }

  /**
   * Checks the current password, the demo policy (AD's defaults: 7 characters, complex; no history
   * or minimum age), and writes the new hash into the users file, keeping its comments and layout.
   */
  async changePassword(username: string, current: string, next: string): Promise<PasswordChangeResult> {
    const checked = await this.authenticate(username, current);
    if (!checked.ok) return checked;
    const user = this.find(username)!;
    const rule = checkNewPassword(next, DEMO_PASSWORD_POLICY, user);
    if (rule) return { ok: false, reason: rule, detail: 'demo password policy' };
    const passwordHash = await hashPassword(next);
    const doc = parseDocument(readFileSync(this.usersFile, 'utf8'));
    // The entries are in file order (readDemoUsers keeps it), so the index names the same entry.
    const index = this.users.indexOf(user);
    doc.setIn(['users', index, 'passwordHash'], passwordHash);
    writeFileSync(this.usersFile, doc.toString(), { mode: 0o600 });
    this.users = this.users.map((u) => (u === user ? { ...u, passwordHash } : u));
    this.logger.info({ user: user.userPrincipalName }, 'demo password changed');
    return { ok: true, userPrincipalName: user.userPrincipalName };
  }

  async health(): Promise<HealthResult> {
    return { ok: true, detail: `demo directory, ${this.users.length} users` };
  }

  async close(): Promise<void> {}

  private async reloadIfChanged(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCheck < this.reloadCheckMs) return;
    this.lastCheck = now;
    // Concurrent sign-ins share one check rather than each reading the file.
    this.checking ??= this.reload().finally(() => {
      this.checking = undefined;
    });
    await this.checking;
  }

  private async reload(): Promise<void> {
    let version: FileVersion | undefined;
    try {
      version = await fileVersion(this.usersFile);
    } catch {
      version = undefined; // deleted or unreadable: reported once below, when the version first differs
    }
    if (version && this.version && sameVersion(version, this.version)) return;
    if (!version && !this.version) return;
    this.version = version;
    try {
      this.users = readDemoUsers(this.usersFile);
      this.logger.info({ usersFile: this.usersFile, users: this.users.length }, 'demo users file changed: read again');
    } catch (err) {
      this.logger.error({ usersFile: this.usersFile }, `${(err as Error).message}; keeping the ${this.users.length} users read before`);
    }
  }

  private find(username: string): DemoUser | undefined {
    const parsed = parseLoginName(username);
    if (!parsed.ok) return undefined;
    const login = parsed.value;
    // Both sides NFC: a users file saved in NFD must match what people type.
    const same = (a: string, b: string) => a.normalize('NFC').toLowerCase() === b.normalize('NFC').toLowerCase();
    switch (login.form) {
      case 'upn':
        return this.users.find((u) => same(u.userPrincipalName, login.name));
      case 'downlevel':
        return same(login.domain, DEMO_NETBIOS_DOMAIN) ? this.users.find((u) => same(u.sAMAccountName, login.sam)) : undefined;
      case 'sam':
        return this.users.find((u) => same(u.sAMAccountName, login.sam));
    }
  }
}

async function fileVersion(file: string): Promise<FileVersion> {
  const { mtimeMs, ctimeMs, size, ino } = await stat(file);
  return { mtimeMs, ctimeMs, size, ino };
}

function toPrincipal(user: DemoUser): Principal {
  return {
    dn: `CN=${user.sAMAccountName},OU=Demo Users,DC=openfed,DC=test`,
    objectGuid: guidToBytes(user.objectGuid),
    consistencyGuid: user.consistencyGuid ? guidToBytes(user.consistencyGuid) : undefined,
    userPrincipalName: user.userPrincipalName,
    sAMAccountName: user.sAMAccountName,
    netbiosDomain: DEMO_NETBIOS_DOMAIN,
    mail: user.mail,
    displayName: user.displayName,
    givenName: user.givenName,
    sn: user.sn,
    groups: user.groups.map((g) => ({ name: g.name, sid: g.sid })),
    attributes: user.attributes,
  };
}

async function starterFile(): Promise<string> {
  const users: z.input<typeof demoUserSchema>[] = [
    {
      userPrincipalName: DEMO_USER,
      sAMAccountName: 'demo',
      passwordHash: await hashPassword(DEMO_PASSWORD),
      objectGuid: randomUUID(),
      mail: DEMO_USER,
      displayName: 'Demo User',
      givenName: 'Demo',
      sn: 'User',
      groups: [{ name: 'Demo-Users', sid: '' }],
    },
  ];
  return (
    '# OpenFed demo directory: used when no Active Directory is configured. Never for production.\n' +
    '# Add users with a passwordHash from `openfed hash-password` (scrypt); objectGuid may be left out (it is then\n' +
    '# derived from the userPrincipalName). Changes are read without a restart.\n' +
    stringifyYaml({ users })
  );
}
