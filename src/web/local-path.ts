import type { Response } from 'express';
import type { AppDeps } from './context.js';

/**
 * Where a browser may be sent after sign-in: only a path on this server. "//evil.example" and
 * "/\evil.example" are protocol-relative URLs to browsers, so both are refused, as is anything with
 * a scheme or control characters.
 */
export function isLocalPath(path: string): boolean {
  return (
    path.startsWith('/') &&
    !path.startsWith('//') &&
    !path.startsWith('/\\') &&
    !/[\u0000-\u001f\u007f\\]/.test(path) &&
    path.length <= 8192
  );
}

/** After a sign-in: back to what was pending — only a path our own code stored, only if local — or home. */
export async function continuePending(res: Response, deps: Pick<AppDeps, 'pending'>, pending: string | undefined): Promise<void> {
  const resume = pending ? await deps.pending.take(pending) : undefined;
  res.redirect(303, resume && isLocalPath(resume.path) ? resume.path : '/');
}
