/**
 * A loopback TCP proxy to a real server (the Samba DC in the directory tests): bytes pass through
 * unchanged, `onConnection` may watch a client's side, and `cut()` destroys every connection and
 * stops listening, as when a DC goes away.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Client connections open through the proxy. */
  open(): number;
  cut(): Promise<void>;
}

export async function tcpProxy(
  target: { host: string; port: number },
  options: { listenPort?: number; onConnection?: (client: net.Socket) => void } = {},
): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    track(client);
    track(upstream);
    options.onConnection?.(client);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(options.listenPort ?? 0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    // Each proxied connection is two sockets: the client's and the one upstream.
    open: () => sockets.size / 2,
    cut: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
