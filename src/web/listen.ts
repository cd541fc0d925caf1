/** Opening a listener, shared by the web server, its management listener and the cluster primary's. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Resolves once listening; a bind error (EADDRINUSE, EACCES) rejects instead of being thrown later. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Where a listener really is (port 0 picks a free one); a wildcard address reads as loopback. */
export function listenUrl(server: Server, scheme: 'http' | 'https'): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
}
