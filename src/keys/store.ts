/**
 * Where the managed key set lives: Redis when sessions.redis is configured (every node of a farm
 * sees it: redis-store.ts), otherwise <dataDir>/keys on this host (FileKeySetStore).
 * Both give the same two guarantees the rollover relies on: the first set is created by exactly one
 * of several nodes or workers starting at once, and a change applies only over the version it was
 * computed from (compare-and-set), so two nodes rolling over at the same moment cannot both win.
 */
import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { primaryOf, serializeKeySet, type StoredKeySet } from './key-set.js';

export interface StoredKeySetText {
  version: number;
  json: string;
}

export interface KeySetStore {
  readonly kind: 'redis' | 'file';
  /** Where, for messages: "Redis" or the file's path. */
  readonly location: string;
  /** The version counter only: what nodes poll. undefined when no set exists yet. */
  version(): Promise<number | undefined>;
  /** The document as stored; parsing (and noticing damage) is the reader's business. */
  read(): Promise<StoredKeySetText | undefined>;
  /** Stores the first set unless one exists; false when another node or worker was first. */
  create(set: StoredKeySet): Promise<boolean>;
  /** Stores `set` only if the stored version is still `expectedVersion`; false otherwise. */
  replace(expectedVersion: number, set: StoredKeySet): Promise<boolean>;
  close(): Promise<void>;
}

const FILE = 'keyset.json';
const LOCK = 'keyset.lock';
/** The single-key files earlier releases made, and that `openfed init` / `m365` / `doctor` read. */
export const LEGACY_KEY = 'signing-key.pem';
export const LEGACY_CERT = 'signing-cert.pem';
/** A writer holds the lock for milliseconds; one this old belongs to a process that died. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

/**
 * The key set in one JSON file, mode 0600 in a 0700 directory. Written to a temporary file and then
 * linked (create: fails if the file exists, atomically) or renamed (replace, under a lock file) into
 * place, so a reader never sees half a document. The current primary is also kept in the single-key
 * files of earlier releases, which other commands still read.
 */
export class FileKeySetStore implements KeySetStore {
  readonly kind = 'file';
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = join(dir, FILE);
  }

  async version(): Promise<number | undefined> {
    const text = await this.read();
    if (!text) return undefined;
    return text.version;
  }

  async read(): Promise<StoredKeySetText | undefined> {
    let json: string;
    try {
      json = readFileSync(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    // The version is read loosely: a damaged document still gets a version, so the reader reports it once.
    let version = Number.NaN;
    try {
      version = Number((JSON.parse(json) as { version?: unknown }).version);
    } catch {
      version = statSync(this.location).mtimeMs;
    }
    return { version, json };
  }

  async create(set: StoredKeySet): Promise<boolean> {
    this.ensureDir();
    const tmp = this.writeTemp(serializeKeySet(set));
    try {
      linkSync(tmp, this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      unlinkSync(tmp);
    }
    this.mirrorPrimary(set);
    return true;
  }

  async replace(expectedVersion: number, set: StoredKeySet): Promise<boolean> {
    this.ensureDir();
    const release = await this.lock();
    try {
      const current = await this.read();
      if (!current || current.version !== expectedVersion) return false;
      renameSync(this.writeTemp(serializeKeySet(set)), this.location);
      this.mirrorPrimary(set);
    } finally {
      release();
    }
    return true;
  }

  async close(): Promise<void> {}

  /** The single key earlier releases generated here, to carry over as the first primary. */
  legacyKey(): { keyPem: string; certPem: string } | undefined {
    const keyPath = join(this.dir, LEGACY_KEY);
    const certPath = join(this.dir, LEGACY_CERT);
    if (!existsSync(keyPath) || !existsSync(certPath)) return undefined;
    return { keyPem: readFileSync(keyPath, 'utf8'), certPem: readFileSync(certPath, 'utf8') };
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }

  private writeTemp(text: string, name = FILE): string {
    const tmp = join(this.dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    return tmp;
  }

  private async lock(): Promise<() => void> {
    const path = join(this.dir, LOCK);
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(path, 'wx', 0o600));
        return () => unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      try {
        if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) unlinkSync(path);
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw new Error(`the key set is locked by another process (${path})`);
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
  }

  /**
   * `openfed init`, `m365 settings` and `doctor` read the single-key files; keeping the primary
   * there keeps them right after a rollover. Only clear keys: an encrypted set stays encrypted.
   */
  private mirrorPrimary(set: StoredKeySet): void {
    const primary = primaryOf(set);
    if (!('pem' in primary.privateKey)) return;
    const certPem = `-----BEGIN CERTIFICATE-----\n${primary.certificate.replace(/.{64}/g, '$&\n').trimEnd()}\n-----END CERTIFICATE-----\n`;
    renameSync(this.writeTemp(primary.privateKey.pem, LEGACY_KEY), join(this.dir, LEGACY_KEY));
    const certTmp = this.writeTemp(certPem, LEGACY_CERT);
    chmodSync(certTmp, 0o644);
    renameSync(certTmp, join(this.dir, LEGACY_CERT));
  }
}
