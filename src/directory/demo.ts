/**
 * The demo directory: users in a YAML file with scrypt password hashes, so `npm start` works on a
 * machine without Active Directory. It yields the same Principal shape as AD and the same failure
 * reasons, so everything above it behaves as in production.
 */
import { randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { guidToBytes } from './guid.js';
import { parseLoginName } from './name.js';
import type { AuthResult, Directory, HealthResult, Principal } from './types.js';

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
    passwordHash: z.string().regex(HASH_RE, 'expected scrypt$N$r$p$salt$hash'),
    objectGuid: z.uuid(),
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
type DemoUser = z.infer<typeof demoUserSchema>;

export class DemoDirectory implements Directory {
  readonly kind = 'demo';
  // Verifying against this when the user is unknown keeps "no such user" as slow as "wrong password".
  private readonly dummyHash: Promise<string> = hashPassword(randomUUID());

  private constructor(private readonly users: readonly DemoUser[]) {}

  /** Reads the users file; creates it with the documented demo user when it does not exist yet. */
  static async open(usersFile: string, logger: Logger): Promise<DemoDirectory> {
    if (!existsSync(usersFile)) {
      mkdirSync(dirname(usersFile), { recursive: true });
      writeFileSync(usersFile, await starterFile(), { mode: 0o600 });
      logger.warn({ usersFile }, `demo directory created with user ${DEMO_USER}`);
    }
    const parsed = demoFileSchema.safeParse(parseYaml(readFileSync(usersFile, 'utf8')));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`demo users file ${usersFile}: ${issue?.path.join('.')}: ${issue?.message}`);
    }
    logger.warn('using the demo directory: for trying OpenFed out, never for production');
    return new DemoDirectory(parsed.data.users);
  }

  async authenticate(username: string, password: string): Promise<AuthResult> {
    if (password === '') return { ok: false, reason: 'invalid_credentials', detail: 'empty password' };
    const user = this.find(username);
    const valid = await verifyPassword(password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !valid) return { ok: false, reason: 'invalid_credentials', detail: user ? 'bad password' : 'no such user' };
    // As AD: the account state is only revealed once the password is right.
    if (user.disabled) return { ok: false, reason: 'account_disabled' };
    return { ok: true, principal: toPrincipal(user) };
  }

  async findPrincipal(username: string): Promise<Principal | undefined> {
    const user = this.find(username);
    return user && toPrincipal(user);
  }

  async userPrincipalNameOf(username: string): Promise<string | undefined> {
    return (await this.findPrincipal(username))?.userPrincipalName;
  }

  async health(): Promise<HealthResult> {
    return { ok: true, detail: `demo directory, ${this.users.length} users` };
  }

  async close(): Promise<void> {}

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
    '# Add users with a passwordHash from `openfed hash-password` (scrypt).\n' +
    stringifyYaml({ users })
  );
}
