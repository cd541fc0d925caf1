/**
 * MFA state of one node without Redis, in the data directory: one file per user under
 * `<dataDir>/mfa/` (directory 0700, files 0600), named by the SHA-256 of the user key so a UPN never
 * becomes a path. A file is replaced atomically (write, fsync, rename), so a reader never sees half
 * of one, and read-modify-write happens under a lock file, so the server and `openfed mfa reset`
 * writing at once cannot lose each other's change. One file per user keeps a write small however
 * many users there are.
 *
 * File content: { user, enrolment?: {version, json}, pending?: {json, expiresAt},
 * wrong?: {count, expiresAt} }; expiries are epoch ms by the injected clock.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { lockFile, replaceFile } from '../shared-file.js';
import {
  MfaRecordError,
  NO_WRONG_CODES,
  parseEnrolment,
  parsePending,
  type MfaEnrolment,
  type MfaStore,
  type PendingEnrolment,
  type VersionedEnrolment,
  type WrongCodeCount,
} from './types.js';

const fileSchema = z.object({
  user: z.string(),
  enrolment: z.object({ version: z.number().int().positive(), json: z.string() }).optional(),
  pending: z.object({ json: z.string(), expiresAt: z.number() }).optional(),
  wrong: z.object({ count: z.number().int().nonnegative(), expiresAt: z.number() }).optional(),
});
type UserFile = z.infer<typeof fileSchema>;


export class FileMfaStore implements MfaStore {
  readonly kind = 'file';

  /** `dir`: `<dataDir>/mfa`, made (0700) on the first write. */
  constructor(
    readonly dir: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async get(user: string): Promise<VersionedEnrolment | undefined> {
    const stored = this.read(user).enrolment;
    return stored && { enrolment: parseEnrolment(user, stored.json), version: stored.version };
  }

  async compareAndSet(user: string, expectedVersion: number, enrolment: MfaEnrolment): Promise<boolean> {
    return this.update(user, (file) => {
      const version = file.enrolment?.version ?? 0;
      if (version !== expectedVersion) return false;
      file.enrolment = { version: version + 1, json: JSON.stringify(enrolment) };
      return true;
    });
  }

  async delete(user: string): Promise<boolean> {
    return this.update(user, (file) => {
      if (!file.enrolment) return false;
      delete file.enrolment;
      return true;
    });
  }

  async getPending(user: string): Promise<PendingEnrolment | undefined> {
    const pending = this.read(user).pending;
    return pending && pending.expiresAt > this.clock.now() ? parsePending(user, pending.json) : undefined;
  }

  async putPending(user: string, pending: PendingEnrolment, ttlMs: number): Promise<void> {
    await this.update(user, (file) => {
      file.pending = { json: JSON.stringify(pending), expiresAt: this.clock.now() + ttlMs };
      return true;
    });
  }

  async deletePending(user: string): Promise<void> {
    await this.update(user, (file) => {
      if (!file.pending) return false;
      delete file.pending;
      return true;
    });
  }

  async wrongCodes(user: string): Promise<WrongCodeCount> {
    const wrong = this.read(user).wrong;
    const now = this.clock.now();
    return wrong && wrong.expiresAt > now ? { count: wrong.count, ttlMs: wrong.expiresAt - now } : NO_WRONG_CODES;
  }

  async addWrongCode(user: string, windowMs: number): Promise<WrongCodeCount> {
    let result = NO_WRONG_CODES;
    await this.update(user, (file) => {
      const now = this.clock.now();
      const live = file.wrong && file.wrong.expiresAt > now ? file.wrong : undefined;
      file.wrong = live ? { count: live.count + 1, expiresAt: live.expiresAt } : { count: 1, expiresAt: now + windowMs };
      result = { count: file.wrong.count, ttlMs: file.wrong.expiresAt - now };
      return true;
    });
    return result;
  }

  async clearWrongCodes(user: string): Promise<void> {
    await this.update(user, (file) => {
      if (!file.wrong) return false;
      delete file.wrong;
      return true;
    });
  }

  async close(): Promise<void> {}

  private path(user: string): string {
    return join(this.dir, `${createHash('sha256').update(user, 'utf8').digest('hex')}.json`);
  }

  private read(user: string): UserFile {
    const path = this.path(user);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { user };
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new MfaRecordError(`${path} (second factor of ${user}) is not JSON: restore it, or reset the user's second factor`);
    }
    const parsed = fileSchema.safeParse(json);
    // The name inside guards against a file copied onto another user's name.
    if (!parsed.success || parsed.data.user !== user) {
      throw new MfaRecordError(`${path} is not the second-factor record of ${user} this version wrote`);
    }
    return parsed.data;
  }

  /** Read, change, write back under the user's lock; `change` returns false when nothing changed. */
  private async update(user: string, change: (file: UserFile) => boolean): Promise<boolean> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = this.path(user);
    const release = await lockFile(`${path}.lock`);
    try {
      const file = this.read(user);
      if (!change(file)) return false;
      const now = this.clock.now();
      // Expired parts go with the next write, and a file with nothing left goes altogether.
      if (file.pending && file.pending.expiresAt <= now) delete file.pending;
      if (file.wrong && file.wrong.expiresAt <= now) delete file.wrong;
      if (!file.enrolment && !file.pending && !file.wrong) {
        try {
          unlinkSync(path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
        return true;
      }
      replaceFile(path, JSON.stringify(file));
      return true;
    } finally {
      release();
    }
  }
}
