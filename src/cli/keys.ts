/**
 * `openfed keys list | add | promote | remove`: the token-signing certificates by hand, for
 * CA-issued certificates (keys.autoRollover: false), as AD FS's Add-AdfsCertificate and "Set As
 * Primary". Changes go to the shared key set (Redis, or <dataDir>/keys), which every node re-reads
 * within keys.refreshSeconds; each one is audited.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { decryptPrivateKey } from '../keys/encryption.js';
import { openKeySetStore, protectWith } from '../keys/key-manager.js';
import {
  addNext,
  KeySetChangeError,
  normalizeThumbprint,
  parseKeySet,
  primaryOf,
  promoteNext,
  removeKey,
  storedEntry,
  subjectOf,
  type KeyRole,
  type StoredKeySet,
} from '../keys/key-set.js';
import { fromPem, fromPkcs12, KeyLoadError, loadSigningKey, type SigningKey } from '../keys/signing-key.js';
import { silentLogger } from '../log.js';
import { openAuditLog } from '../server.js';

type Env = Record<string, string | undefined>;

const DAY_MS = 86_400_000;
const MAX_ATTEMPTS = 5;
const print = (text: string) => process.stdout.write(text);
const printJson = (value: unknown) => print(`${JSON.stringify(value, null, 2)}\n`);

export type KeyMode = 'fixed' | 'automatic' | 'manual';

export interface KeyListing {
  mode: KeyMode;
  /** Where the set is kept: Redis, a file, or the configuration (fixed). */
  store: string;
  /** Version of the stored set; absent for fixed keys or before the first start. */
  version?: number;
  keys: Array<{ role: KeyRole; thumbprint: string; subject: string; notAfter: string; daysLeft: number; origin: 'generated' | 'imported' | 'configured' }>;
}

export function keyMode(config: Config): KeyMode {
  return config.keys.signing ? 'fixed' : config.keys.autoRollover ? 'automatic' : 'manual';
}

export async function listKeys(config: Config, now: number = Date.now()): Promise<KeyListing> {
  const days = (notAfter: number) => Math.floor((notAfter - now) / DAY_MS);
  if (config.keys.signing) {
    const host = new URL(config.server.baseUrl).hostname;
    const configured: Array<[KeyRole, SigningKey]> = [['primary', await loadSigningKey(config.keys.signing, config.dataDir, host, silentLogger)]];
    if (config.keys.next) configured.push(['next', await loadSigningKey(config.keys.next, config.dataDir, host, silentLogger, 'keys.next')]);
    return {
      mode: 'fixed',
      store: 'configuration (keys.signing)',
      keys: configured.map(([role, k]) => ({
        role,
        thumbprint: k.thumbprint,
        subject: k.certificate.subject.replaceAll('\n', ', '),
        notAfter: k.notAfter.toISOString(),
        daysLeft: days(k.notAfter.getTime()),
        origin: 'configured',
      })),
    };
  }
  const store = openKeySetStore(config, silentLogger);
  try {
    const stored = await store.read();
    const set = stored && parseKeySet(stored.json);
    const order: Record<KeyRole, number> = { primary: 0, next: 1, previous: 2 };
    return {
      mode: keyMode(config),
      store: store.location,
      ...(set ? { version: set.version } : {}),
      keys: (set?.keys ?? [])
        .slice()
        .sort((a, b) => order[a.role] - order[b.role] || b.notAfter - a.notAfter)
        .map((k) => ({
          role: k.role,
          thumbprint: k.thumbprint,
          subject: subjectOf(k),
          notAfter: new Date(k.notAfter).toISOString(),
          daysLeft: days(k.notAfter),
          origin: k.origin,
        })),
    };
  } finally {
    await store.close();
  }
}

export function renderKeyList(l: KeyListing): string {
  const mode = { fixed: 'fixed by keys.signing', automatic: 'automatic rollover', manual: 'managed by hand (keys.autoRollover: false)' }[l.mode];
  const lines = [`Token-signing certificates (${mode}; ${l.store}${l.version !== undefined ? `, version ${l.version}` : ''}):`];
  if (l.keys.length === 0) lines.push('  none yet: the first start of OpenFed creates the primary');
  for (const k of l.keys) {
    const left = k.daysLeft < 0 ? `expired ${-k.daysLeft} days ago` : `${k.daysLeft} days left`;
    lines.push(`  ${k.role.padEnd(8)}  ${k.thumbprint}  until ${k.notAfter} (${left})  ${k.origin}  ${k.subject}`);
  }
  return `${lines.join('\n')}\n`;
}

// --------------------------------------------------------------------------------------- changes

export type KeyImport = { keyFile: string; certFile: string } | { pkcs12File: string; password: string };

export interface KeyChange {
  command: 'keys add' | 'keys promote' | 'keys remove';
  thumbprint: string;
  version: number;
  primary: string;
}

/** Reads the certificate to add; the checks (RSA, >= 2048 bits, key matches) are fromPem's. */
export function readImport(input: KeyImport): SigningKey {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new KeyLoadError(`${what} ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  };
  if ('pkcs12File' in input) return { ...fromPkcs12(read(input.pkcs12File, '--pkcs12'), input.password), source: 'imported' };
  return { ...fromPem(read(input.keyFile, '--key').toString('utf8'), read(input.certFile, '--cert').toString('utf8'), 'imported'), source: 'imported' };
}

/**
 * Applies one change to the stored set (compare-and-set, retried if a node changed it meanwhile),
 * after checking that this installation's keys are managed by hand and that the secret opens them.
 */
async function change(
  config: Config,
  command: KeyChange['command'],
  /** The certificate the change is about, for the audit trail and the answer. */
  target: (changed: StoredKeySet) => string,
  edit: (set: StoredKeySet, now: number) => StoredKeySet,
  by: string,
): Promise<KeyChange> {
  const mode = keyMode(config);
  if (mode === 'fixed') {
    throw new KeySetChangeError('the token-signing key is fixed by keys.signing in the configuration: change the configuration instead');
  }
  if (mode === 'automatic') {
    throw new KeySetChangeError(
      'keys.autoRollover is on: OpenFed makes and promotes its own certificates. Set keys.autoRollover: false to manage them with openfed keys',
    );
  }
  const store = openKeySetStore(config, silentLogger);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await store.read();
      if (!stored) throw new KeySetChangeError(`there is no key set in ${store.location} yet: start OpenFed once, it creates the primary`);
      const set = parseKeySet(stored.json);
      // A key stored under another secret would be unreadable to every node: refuse before writing.
      const primary = primaryOf(set);
      if ('encrypted' in primary.privateKey) {
        if (!config.keys.encryptionSecret) throw new KeyLoadError('the stored keys are encrypted: set keys.encryptionSecret (OPENFED_KEY_ENCRYPTION_SECRET)');
        decryptPrivateKey(primary.privateKey.encrypted, config.keys.encryptionSecret, primary.thumbprint);
      }
      const changed = edit(set, Date.now());
      if (await store.replace(stored.version, changed)) {
        const thumbprint = target(changed);
        if (config.audit.file === undefined) mkdirSync(config.dataDir, { recursive: true }); // the trail lives there
        openAuditLog(config).record({ type: 'admin.change', command, target: thumbprint, by });
        return { command, thumbprint, version: changed.version, primary: primaryOf(changed).thumbprint };
      }
    }
    throw new KeySetChangeError('the key set kept changing under this command: try again');
  } finally {
    await store.close();
  }
}

export function addKey(config: Config, input: KeyImport, by: string = userInfo().username): Promise<KeyChange> {
  const key = readImport(input);
  const entry = storedEntry(key, 'next', 'imported', Date.now(), protectWith(config.keys.encryptionSecret));
  return change(config, 'keys add', () => key.thumbprint, (set, now) => addNext(set, { ...entry, addedAt: now }, now), by);
}

export function promoteKey(config: Config, thumbprint: string | undefined, by: string = userInfo().username): Promise<KeyChange> {
  return change(config, 'keys promote', (changed) => primaryOf(changed).thumbprint, (set, now) => promoteNext(set, now, thumbprint), by);
}

export function removeKeyFromSet(config: Config, thumbprint: string, by: string = userInfo().username): Promise<KeyChange> {
  return change(config, 'keys remove', () => normalizeThumbprint(thumbprint), (set) => removeKey(set, thumbprint), by);
}

// -------------------------------------------------------------------------------------- commands

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function renderChange(c: KeyChange, refreshSeconds: number): string {
  const what = {
    'keys add': `Added certificate ${c.thumbprint} as the next token-signing certificate: published in metadata now, signing once promoted (openfed keys promote).`,
    'keys promote': `Certificate ${c.thumbprint} is now the primary: it signs every token; the former primary stays published until it expires.`,
    'keys remove': `Removed certificate ${c.thumbprint}: no longer published.`,
  }[c.command];
  return `${what}\nEvery node picks the change up within ${refreshSeconds} s (key set version ${c.version}).\n`;
}

export function keysCommand(env: Env = process.env): Command {
  const command = new Command('keys').description('token-signing certificates: list, and by hand (keys.autoRollover: false) add, promote, remove');
  const output = (json: boolean | undefined, result: KeyChange, config: Config) => {
    if (json) printJson(result);
    else print(renderChange(result, config.keys.refreshSeconds));
  };

  command
    .command('list')
    .description('list the token-signing certificates: primary (signs), next (published, promoted later), previous (published until they expire)')
    .option('--json', 'print the list as JSON')
    .action(async (options: { json?: boolean }) => {
      const listing = await listKeys(loadConfig(env));
      if (options.json) printJson(listing);
      else print(renderKeyList(listing));
    });

  command
    .command('add')
    .description('add a certificate (RSA, at least 2048 bits, not expired) as the next one: published now, signing once promoted (audited)')
    .option('--cert <file>', 'PEM certificate (with --key)')
    .option('--key <file>', 'PEM private key, unencrypted (with --cert)')
    .option('--pkcs12 <file>', 'PKCS#12 (.pfx) file holding key and certificate')
    .option('--password-stdin', 'read the PKCS#12 password from standard input')
    .option('--json', 'print the change as JSON')
    .action(async (options: { cert?: string; key?: string; pkcs12?: string; passwordStdin?: boolean; json?: boolean }) => {
      let input: KeyImport;
      if (options.pkcs12 !== undefined && options.cert === undefined && options.key === undefined) {
        input = { pkcs12File: options.pkcs12, password: options.passwordStdin ? await readStdin() : '' };
      } else if (options.pkcs12 === undefined && options.cert !== undefined && options.key !== undefined) {
        input = { keyFile: options.key, certFile: options.cert };
      } else {
        throw new KeySetChangeError('give --cert and --key, or --pkcs12 (with --password-stdin when it has a password)');
      }
      const config = loadConfig(env);
      output(options.json, await addKey(config, input), config);
    });

  command
    .command('promote')
    .description('make the next certificate the primary that signs every token; the old primary stays published until it expires (audited)')
    .argument('[thumbprint]', 'SHA-1 thumbprint of the next certificate (a check that it is the one meant)')
    .option('--json', 'print the change as JSON')
    .action(async (thumbprint: string | undefined, options: { json?: boolean }) => {
      const config = loadConfig(env);
      output(options.json, await promoteKey(config, thumbprint), config);
    });

  command
    .command('remove')
    .description('stop publishing a next or former certificate; the primary cannot be removed (audited)')
    .argument('<thumbprint>', 'SHA-1 thumbprint, as openfed keys list shows it')
    .option('--json', 'print the change as JSON')
    .action(async (thumbprint: string, options: { json?: boolean }) => {
      const config = loadConfig(env);
      output(options.json, await removeKeyFromSet(config, thumbprint), config);
    });
  return command;
}
