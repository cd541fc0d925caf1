/**
 * Relying parties added with `openfed rp add`, and fetched copies of SP metadata, kept where every
 * node sees them: Redis when sessions.redis is configured (redis-store.ts, beside this file), else
 * one owner-only file in the data directory (one node). Configured relying parties never go here: the
 * configuration file stays the only place that says what they are.
 *
 * Values are stored as text and decoded by each reader, so one broken entry (a hand edit, a newer
 * release) is skipped on its own instead of taking the whole store down with it.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { lockFile, replaceFile } from '../shared-file.js';
import type { Logger } from '../log.js';
import { openRedis, type RedisConnection } from '../redis/connection.js';
import { RedisRelyingPartyStore } from './redis-store.js';
import { samlRelyingPartySchema, wsfedRelyingPartySchema, type SamlRelyingPartyConfig, type WsfedRelyingPartyConfig } from './schema.js';

export interface StoreSnapshot {
  version: number;
  /** id (SAML entityID or WS-Fed realm) → encoded Registration. */
  registrations: Map<string, string>;
  /** SAML entityID → encoded MetadataCopy. */
  metadata: Map<string, string>;
}

export interface RelyingPartyStore {
  readonly kind: 'redis' | 'file';
  /** Changes with every write: nodes poll it and re-read the rest only when it moved. */
  version(): Promise<number>;
  snapshot(): Promise<StoreSnapshot>;
  /** false when the id is already taken. With its metadata copy in the same write, so no node sees one without the other. */
  addRegistration(id: string, encoded: string, metadata?: string): Promise<boolean>;
  /** Removes the registration and its metadata copy; false when there was none. */
  removeRegistration(id: string): Promise<boolean>;
  putMetadata(entityId: string, encoded: string): Promise<void>;
  /** true for the one caller that should fetch this SP's metadata now; the others read its copy. */
  claimFetch(entityId: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------------ values

export type Registration =
  | { kind: 'saml'; id: string; config: SamlRelyingPartyConfig; addedAt: string; addedBy: string }
  | { kind: 'wsfed'; id: string; config: WsfedRelyingPartyConfig; addedAt: string; addedBy: string };

export interface MetadataCopy {
  xml: string;
  /** Epoch ms of the fetch (or file read) that produced it. */
  fetchedAt: number;
  /** The URL or file it came from, for `rp list`. */
  source: string;
}

const envelope = z.object({
  v: z.literal(1),
  kind: z.enum(['saml', 'wsfed']),
  config: z.unknown(),
  addedAt: z.string(),
  addedBy: z.string(),
});

const metadataEnvelope = z.object({ v: z.literal(1), xml: z.string(), fetchedAt: z.number(), source: z.string() });

/** `config` is what the admin gave (schema input): defaults are applied when read, as for the config file. */
export function encodeRegistration(kind: Registration['kind'], config: unknown, addedBy: string, addedAt: Date): string {
  return JSON.stringify({ v: 1, kind, config, addedAt: addedAt.toISOString(), addedBy });
}

/** Through the same zod schemas as the configuration file: an added RP is exactly as valid as a configured one. */
export function decodeRegistration(id: string, encoded: string): Registration {
  const outer = envelope.safeParse(parseJson(encoded));
  if (!outer.success) throw new Error('not a relying-party registration this version wrote');
  const { kind, config, addedAt, addedBy } = outer.data;
  if (kind === 'saml') {
    const parsed = samlRelyingPartySchema.safeParse(config);
    if (!parsed.success) throw new Error(describeIssue(parsed.error));
    if (parsed.data.entityId !== id) throw new Error(`stored under ${id} but describes ${parsed.data.entityId}`);
    return { kind, id, config: parsed.data, addedAt, addedBy };
  }
  const parsed = wsfedRelyingPartySchema.safeParse(config);
  if (!parsed.success) throw new Error(describeIssue(parsed.error));
  if (parsed.data.realm !== id) throw new Error(`stored under ${id} but describes ${parsed.data.realm}`);
  return { kind, id, config: parsed.data, addedAt, addedBy };
}

export function encodeMetadataCopy(copy: MetadataCopy): string {
  return JSON.stringify({ v: 1, ...copy });
}

export function decodeMetadataCopy(encoded: string): MetadataCopy {
  const parsed = metadataEnvelope.safeParse(parseJson(encoded));
  if (!parsed.success) throw new Error('not a metadata copy this version wrote');
  const { xml, fetchedAt, source } = parsed.data;
  return { xml, fetchedAt, source };
}

function parseJson(encoded: string): unknown {
  try {
    return JSON.parse(encoded);
  } catch {
    throw new Error('not JSON');
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

// ------------------------------------------------------------------------------------------ factory

/**
 * Redis when sessions.redis is configured (every node sees the same), else <dataDir>/relying-parties.json.
 * `redis`: the process's shared connection (a server's), which the store leaves open; without it a
 * one-off command gets a connection of its own, closed with the store.
 */
export function openRelyingPartyStore(config: Config, logger: Logger, redis?: RedisConnection): RelyingPartyStore {
  if (redis) return new RedisRelyingPartyStore(redis);
  if (config.sessions.redis) return new RedisRelyingPartyStore(openRedis(config.sessions.redis, logger), { ownsConnection: true });
  return new FileRelyingPartyStore(join(config.dataDir, 'relying-parties.json'));
}

// ------------------------------------------------------------------------------------------ file

interface FileContent {
  version: number;
  registrations: Record<string, string>;
  metadata: Record<string, string>;
}

const fileSchema = z.object({
  version: z.number().int().nonnegative(),
  registrations: z.record(z.string(), z.string()),
  metadata: z.record(z.string(), z.string()),
});


/**
 * One JSON file, mode 0600 (it names who may receive tokens), replaced atomically (write, fsync,
 * rename) so a reader never sees half a file, with a lock file around read-modify-write so the
 * server and an admin command writing at once cannot lose each other's change.
 */
export class FileRelyingPartyStore implements RelyingPartyStore {
  readonly kind = 'file';
  #cached: { stamp: string; content: FileContent } | undefined;

  constructor(readonly path: string) {}

  async version(): Promise<number> {
    return this.#read().version;
  }

  async snapshot(): Promise<StoreSnapshot> {
    const content = this.#read();
    return {
      version: content.version,
      registrations: new Map(Object.entries(content.registrations)),
      metadata: new Map(Object.entries(content.metadata)),
    };
  }

  async addRegistration(id: string, encoded: string, metadata?: string): Promise<boolean> {
    return this.#update((content) => {
      if (Object.hasOwn(content.registrations, id)) return false;
      content.registrations[id] = encoded;
      if (metadata !== undefined) content.metadata[id] = metadata;
      else delete content.metadata[id];
      return true;
    });
  }

  async removeRegistration(id: string): Promise<boolean> {
    return this.#update((content) => {
      if (!Object.hasOwn(content.registrations, id)) return false;
      delete content.registrations[id];
      delete content.metadata[id];
      return true;
    });
  }

  async putMetadata(entityId: string, encoded: string): Promise<void> {
    await this.#update((content) => {
      content.metadata[entityId] = encoded;
      return true;
    });
  }

  async claimFetch(): Promise<boolean> {
    return true; // one node: nobody to share the work with
  }

  async close(): Promise<void> {}

  #read(): FileContent {
    let stamp: string;
    try {
      const s = statSync(this.path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 0, registrations: {}, metadata: {} };
      throw error;
    }
    if (this.#cached?.stamp === stamp) return this.#cached.content;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch {
      throw new Error(`${this.path} is not JSON: restore it or move it away`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new Error(`${this.path} is not a relying-party store this version wrote`);
    // Null-prototype records: an id such as "__proto__" must stay an ordinary key.
    const content: FileContent = {
      version: parsed.data.version,
      registrations: Object.assign(Object.create(null) as Record<string, string>, parsed.data.registrations),
      metadata: Object.assign(Object.create(null) as Record<string, string>, parsed.data.metadata),
    };
    this.#cached = { stamp, content };
    return content;
  }

  async #update(change: (content: FileContent) => boolean): Promise<boolean> {
    const release = await lockFile(`${this.path}.lock`, { pollMs: 25 });
    try {
      this.#cached = undefined;
      const current = this.#read();
      const content: FileContent = {
        version: current.version,
        registrations: Object.assign(Object.create(null) as Record<string, string>, current.registrations),
        metadata: Object.assign(Object.create(null) as Record<string, string>, current.metadata),
      };
      if (!change(content)) return false;
      content.version++;
      replaceFile(this.path, JSON.stringify(content));
      return true;
    } finally {
      release();
    }
  }
}
