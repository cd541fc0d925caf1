/**
 * A real, throwaway redis-server per test file, on a free loopback port, with no persistence.
 * stop()/restart() (same port) let tests take Redis away and bring it back; pause()/resume()
 * freeze it so commands hang rather than fail. The server is always killed when the file ends.
 *
 * Talks RESP over a plain socket for inspection (TTL, MEMORY USAGE, CLIENT LIST), so tests never
 * depend on the client library under test.
 *
 * startRedisSentinel() runs a master, a replica and a sentinel watching them; startRedisCluster()
 * runs a three-master Redis Cluster. Both are real redis-server processes, killed when the file ends.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

export type RespValue = string | number | null | RespValue[] | Error;

export interface RedisServer {
  readonly port: number;
  /** Cluster nodes only: the cluster bus port (CLUSTER MEET needs it). */
  readonly busPort?: number;
  /** With options.tls: the TLS port (rediss://); the plain port stays open for inspection. */
  readonly tlsPort?: number;
  readonly url: string;
  /** Kills the server (SIGKILL, like a crash); data is lost. */
  stop(): Promise<void>;
  /** stop() if running, then a fresh, empty server on the same port. */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, commands get no answer. */
  pause(): void;
  resume(): void;
  /** One command over a fresh connection; error replies come back as Error values. */
  command(...args: (string | number)[]): Promise<RespValue>;
}

function findRedisServer(): string {
  const candidates = process.env.REDIS_SERVER
    ? [process.env.REDIS_SERVER]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'redis-server'));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // try the next one
    }
  }
  // Never skip: a suite that silently skips the Redis tests would pass without testing Redis.
  throw new Error('redis-server not found on PATH (or REDIS_SERVER): install it (apt-get install redis-server)');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not allocate a port');
  return address.port;
}

export interface RedisServerOptions {
  args?: string[];
  /** A config file read before the arguments (a sentinel needs one it may rewrite). */
  configFile?: string;
  /** Run as a sentinel (redis-server <configFile> --sentinel). */
  sentinel?: boolean;
  /** Run as a Redis Cluster node (own cluster bus port and nodes.conf), not yet part of a cluster. */
  cluster?: boolean;
  /** Sent as AUTH before every command(): for servers started with requirepass. */
  password?: string;
  /** Use this port (e.g. one written into a sentinel's config before it starts). */
  port?: number;
  /** Also listen with TLS (see makeTlsMaterial), clients not asked for certificates. */
  tls?: TlsMaterial;
}

export interface TlsMaterial {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A CA that did not issue certFile, for tests that a wrong issuer fails closed. */
  otherCaFile: string;
}

/** A throwaway CA and a certificate for 127.0.0.1 / localhost (openssl, EC P-256); also a client certificate, as cluster nodes present it to each other. */
export function makeTlsMaterial(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-redis-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256'];
  openssl('req', '-x509', ...ec, '-days', '2', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=OpenFed test Redis CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', 'key.pem', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-sha256', '-days', '2', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'cert.pem', '-extfile', 'server.ext');
  openssl('req', '-x509', ...ec, '-days', '2', '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-subj', '/CN=Unrelated CA');
  return { caFile: file('ca.pem'), certFile: file('cert.pem'), keyFile: file('key.pem'), otherCaFile: file('other-ca.pem') };
}

type Cleanup = (stop: () => Promise<void>) => void;
let registerCleanup: Cleanup = (stop) => after(stop);

/**
 * Outside node's test runner (`npm run drill`), where an after() hook would start a test run of its
 * own: who stops the servers started from now on instead.
 */
export function stopServersWith(register: Cleanup): void {
  registerCleanup = register;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findRedisServer();
  const port = options.port ?? (await freePort());
  const busPort = options.cluster ? await freePort() : undefined;
  const tlsPort = options.tls ? await freePort() : undefined;
  const args = [
    ...(options.configFile ? [options.configFile] : []),
    ...(options.sentinel ? ['--sentinel'] : []),
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    ...(options.cluster
      ? ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-node-timeout', '2000',
         '--dir', mkdtempSync(join(tmpdir(), 'openfed-cluster-')), '--cluster-config-file', 'nodes.conf']
      : []),
    ...(options.tls
      ? ['--tls-port', String(tlsPort), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile,
         '--tls-ca-cert-file', options.tls.caFile, '--tls-auth-clients', 'no']
      : []),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;
  let output = '';

  const killNow = () => child?.kill('SIGKILL');
  process.once('exit', killNow); // belt and braces if `after` never runs

  const command = (...parts: (string | number)[]) => sendCommand(port, parts.map(String), options.password);

  const launch = async () => {
    output = '';
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server exited at start:\n${output}`);
      }
      const reply = await command('PING').catch(() => undefined);
      if (reply === 'PONG' || (reply instanceof Error && reply.message.startsWith('NOAUTH'))) return;
      await sleep(20);
    }
    throw new Error(`redis-server did not answer PING within 5 s:\n${output}`);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL'); // also ends a SIGSTOPped process
    await exited;
  };

  // Registered where the caller runs: call startRedisServer at a test file's top level or inside a
  // test, not inside a before() hook, where node:test would run this as soon as the hook ends.
  registerCleanup(async () => {
    await stop();
    process.off('exit', killNow);
  });

  await launch();
  return {
    port,
    ...(busPort !== undefined && { busPort }),
    ...(tlsPort !== undefined && { tlsPort }),
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    command,
  };
}

function encodeCommand(parts: string[]): Buffer {
  const chunks = [`*${parts.length}\r\n`];
  for (const part of parts) chunks.push(`$${Buffer.byteLength(part)}\r\n${part}\r\n`);
  return Buffer.from(chunks.join(''));
}

/** Parses one RESP2 reply at `offset`; undefined when the buffer does not hold all of it yet. */
function parseReply(buf: Buffer, offset: number): [RespValue, number] | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buf[offset] ?? 0)) {
    case '+':
      return [line, next];
    case '-':
      return [new Error(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buf.length < next + length + 2) return undefined;
      return [buf.toString('utf8', next, next + length), next + length + 2];
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (!item) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`unexpected RESP reply: ${line}`);
  }
}

function sendCommand(port: number, parts: string[], password?: string): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    socket.setTimeout(2000, () => socket.destroy(new Error('redis command timed out')));
    socket.on('connect', () => {
      if (password !== undefined) socket.write(encodeCommand(['AUTH', password]));
      socket.write(encodeCommand(parts));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let reply = parseReply(buf, 0);
      if (reply && password !== undefined) {
        // The AUTH reply comes first; a failed AUTH is the answer (the command would say NOAUTH).
        if (reply[0] instanceof Error) {
          socket.end();
          resolve(reply[0]);
          return;
        }
        reply = parseReply(buf, reply[1]);
      }
      if (reply) {
        socket.end();
        resolve(reply[0]);
      }
    });
    socket.on('error', reject);
  });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
}

/**
 * The clients connected to `server` (CLIENT LIST, one record of its key=value fields each), without
 * the connection this question itself arrives on.
 */
export async function connectedClients(server: RedisServer): Promise<Array<Record<string, string>>> {
  const reply = await server.command('CLIENT', 'LIST');
  if (typeof reply !== 'string') throw new Error(`CLIENT LIST answered ${String(reply)}`);
  return reply
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Object.fromEntries(line.trim().split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])))
    .filter((client) => !/^client(\|list)?$/.test(client.cmd ?? ''));
}

/** The value of `field` in an INFO-style reply ("field:value" lines). */
export function infoField(reply: RespValue, field: string): string | undefined {
  if (typeof reply !== 'string') return undefined;
  return new RegExp(`^${field}:(.*)$`, 'm').exec(reply)?.[1]?.trim();
}

// ---------------------------------------------------------------------------------------------
// Sentinel

export interface RedisSentinelSetup {
  /** The master group name the sentinel watches. */
  readonly name: string;
  /** The master at start, and its replica. */
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinel: RedisServer;
  /** For sessions.redis.sentinels. */
  readonly sentinels: { host: string; port: number }[];
  /** The port the sentinel currently names as master. */
  masterPort(): Promise<number>;
}

/**
 * A master, one replica and one sentinel (quorum 1) watching them. The sentinel considers the master
 * down after `downAfterMs` of silence and then promotes the replica. Resolves once the sentinel
 * knows the replica and the replica is in sync, so a failover can happen from the first test on.
 * `password` protects master and replica, `sentinelPassword` the sentinel.
 */
export async function startRedisSentinel(
  options: { password?: string; sentinelPassword?: string; downAfterMs?: number; name?: string } = {},
): Promise<RedisSentinelSetup> {
  const name = options.name ?? 'openfed-test';
  const auth = options.password !== undefined ? ['--requirepass', options.password, '--masterauth', options.password] : [];
  const master = await startRedisServer({ args: auth, ...(options.password !== undefined && { password: options.password }) });
  const replica = await startRedisServer({
    args: [...auth, '--replicaof', '127.0.0.1', String(master.port)],
    ...(options.password !== undefined && { password: options.password }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'openfed-sentinel-'));
  const configFile = join(dir, 'sentinel.conf');
  writeFileSync(
    configFile,
    [
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} 5000`,
      ...(options.password !== undefined ? [`sentinel auth-pass ${name} ${options.password}`] : []),
      ...(options.sentinelPassword !== undefined ? [`requirepass ${options.sentinelPassword}`] : []),
      '',
    ].join('\n'),
  );
  const sentinel = await startRedisServer({
    configFile,
    sentinel: true,
    args: ['--dir', dir],
    ...(options.sentinelPassword !== undefined && { password: options.sentinelPassword }),
  });
  await waitFor('replica in sync', 10_000, async () =>
    infoField(await replica.command('INFO', 'replication'), 'master_link_status') === 'up' ? true : undefined,
  );
  await waitFor('sentinel knows the replica', 15_000, async () => {
    const replicas = await sentinel.command('SENTINEL', 'REPLICAS', name);
    return Array.isArray(replicas) && replicas.length > 0 ? true : undefined;
  });
  return {
    name,
    master,
    replica,
    sentinel,
    sentinels: [{ host: '127.0.0.1', port: sentinel.port }],
    masterPort: async () => {
      const reply = await sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name);
      if (!Array.isArray(reply) || typeof reply[1] !== 'string') throw new Error(`sentinel answered ${String(reply)}`);
      return Number(reply[1]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cluster

export interface RedisClusterSetup {
  /** Masters first (in slot order), then replicas (replica i of master i % masters). */
  readonly nodes: RedisServer[];
  readonly masters: RedisServer[];
  readonly replicas: RedisServer[];
  /** For sessions.redis.cluster. */
  readonly seeds: { host: string; port: number }[];
  /** The slot of a key, as the cluster computes it. */
  slotOf(key: string): Promise<number>;
  /** The node that served a key's slot at start (for MEMORY USAGE, TTL and the like). */
  nodeFor(key: string): Promise<RedisServer>;
  /** The node serving a slot now, as a live node's CLUSTER SLOTS says (follows failovers). */
  servingPort(slot: number, asked?: RedisServer): Promise<number | undefined>;
}

const CLUSTER_SLOTS = 16384;

/**
 * A Redis Cluster of `masters` nodes, slots split evenly, made with CLUSTER ADDSLOTSRANGE and CLUSTER
 * MEET, and `replicas` replicas spread over the masters (CLUSTER REPLICATE), so that a master can fail
 * over; resolves when every node reports cluster_state:ok and every replica is in sync. `args` go to
 * every node (e.g. --cluster-require-full-coverage no). With `tls`, clients (seeds) and the cluster
 * bus use TLS; the plain ports stay open for inspection.
 */
export async function startRedisCluster(
  options: { masters?: number; replicas?: number; args?: string[]; tls?: TlsMaterial } = {},
): Promise<RedisClusterSetup> {
  const count = options.masters ?? 3;
  const replicaCount = options.replicas ?? 0;
  const nodes: RedisServer[] = [];
  for (let i = 0; i < count + replicaCount; i++) {
    // With TLS the nodes talk TLS to each other too, and announce their TLS ports to clients.
    const args = [...(options.tls ? ['--tls-cluster', 'yes'] : []), ...(options.args ?? [])];
    nodes.push(await startRedisServer({ cluster: true, args, ...(options.tls && { tls: options.tls }) }));
  }
  const masters = nodes.slice(0, count);
  const replicas = nodes.slice(count);
  const ranges = masters.map((_, i) => [Math.floor((i * CLUSTER_SLOTS) / count), Math.floor(((i + 1) * CLUSTER_SLOTS) / count) - 1] as const);
  for (const [i, node] of masters.entries()) {
    const [first, last] = ranges[i]!;
    const reply = await node.command('CLUSTER', 'ADDSLOTSRANGE', first, last);
    if (reply !== 'OK') throw new Error(`CLUSTER ADDSLOTSRANGE: ${String(reply)}`);
  }
  for (const node of nodes.slice(1)) {
    const reply = await nodes[0]!.command('CLUSTER', 'MEET', '127.0.0.1', node.port, node.busPort ?? node.port + 10000);
    if (reply !== 'OK') throw new Error(`CLUSTER MEET: ${String(reply)}`);
  }
  for (const [i, replica] of replicas.entries()) {
    const master = masters[i % count]!;
    const masterId = await master.command('CLUSTER', 'MYID');
    // A replica can follow a master only once it has heard of it through the cluster bus.
    await waitFor(`replica ${replica.port} replicating ${master.port}`, 20_000, async () =>
      (await replica.command('CLUSTER', 'REPLICATE', String(masterId))) === 'OK' ? true : undefined,
    );
  }
  for (const node of nodes) {
    await waitFor(`cluster_state:ok on node ${node.port}`, 20_000, async () => {
      const info = await node.command('CLUSTER', 'INFO');
      return infoField(info, 'cluster_state') === 'ok' && infoField(info, 'cluster_known_nodes') === String(nodes.length) ? true : undefined;
    });
  }
  for (const replica of replicas) {
    await waitFor(`replica ${replica.port} in sync`, 20_000, async () =>
      infoField(await replica.command('INFO', 'replication'), 'master_link_status') === 'up' ? true : undefined,
    );
  }
  const slotOf = async (key: string) => Number(await nodes[0]!.command('CLUSTER', 'KEYSLOT', key));
  return {
    nodes,
    masters,
    replicas,
    seeds: masters.map((n) => ({ host: '127.0.0.1', port: n.tlsPort ?? n.port })),
    slotOf,
    nodeFor: async (key) => {
      const slot = await slotOf(key);
      const index = ranges.findIndex(([first, last]) => slot >= first && slot <= last);
      return masters[index]!;
    },
    servingPort: async (slot, asked = nodes[0]!) => {
      const reply = await asked.command('CLUSTER', 'SLOTS');
      if (!Array.isArray(reply)) return undefined;
      for (const entry of reply) {
        if (!Array.isArray(entry)) continue;
        const [first, last, master] = entry as [number, number, RespValue[]];
        if (slot >= first && slot <= last && Array.isArray(master)) return Number(master[1]);
      }
      return undefined;
    },
  };
}
