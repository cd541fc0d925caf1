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
