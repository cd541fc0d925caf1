/**
 * A lock file beside a file several processes rewrite (read, change, write back): created with O_EXCL,
 * removed when done. A lock older than `staleMs` was left by a process that died mid-write and is
 * taken over; waiting longer than `waitMs` is an error the caller reports ("try again").
 */
import { closeSync, openSync, statSync, unlinkSync } from 'node:fs';

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
