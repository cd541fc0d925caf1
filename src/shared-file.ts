/**
 * A file several processes rewrite (read, change, write back): a lock file beside it, created with
 * O_EXCL and removed when done — a lock older than `staleMs` was left by a process that died mid-write
 * and is taken over; waiting longer than `waitMs` is an error the caller reports ("try again") — and
 * the new content written atomically, so a reader never sees half a file.
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

export interface LockOptions {
  waitMs?: number;
  staleMs?: number;
  pollMs?: number;
}

/** Resolves to the release function once `lockPath` is ours. */
export async function lockFile(lockPath: string, options: LockOptions = {}): Promise<() => void> {
  const { waitMs = 5000, staleMs = 30_000, pollMs = 10 } = options;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      closeSync(openSync(lockPath, 'wx', 0o600));
      return () => {
        try {
          unlinkSync(lockPath);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - statSync(lockPath).mtimeMs > staleMs) unlinkSync(lockPath);
    } catch {
      // another process removed or took it meanwhile
    }
    if (Date.now() > deadline) throw new Error(`${lockPath} is held by another process: try again`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Replaces `path` with `text`, mode 0600: written to a temporary file, fsynced, renamed over it. */
export function replaceFile(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
