/**
 * A real, throwaway redis-server per test file, on a free loopback port, with no persistence.
 * stop()/restart() (same port) let tests take Redis away and bring it back; pause()/resume()
 * freeze it so commands hang rather than fail. The server is always killed when the file ends.
 *
 * Talks RESP over a plain socket for inspection (TTL, MEMORY USAGE), so tests never depend on
 * the client library under test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

export type RespValue = string | number | null | RespValue[] | Error;

export interface RedisServer {
  readonly port: number;
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

export async function startRedisServer(options: { args?: string[] } = {}): Promise<RedisServer> {
  const binary = findRedisServer();
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(options.args ?? [])];
  let child: ChildProcess | undefined;
  let output = '';

  const killNow = () => child?.kill('SIGKILL');
  process.once('exit', killNow); // belt and braces if `after` never runs

  const command = (...parts: (string | number)[]) => sendCommand(port, parts.map(String));

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
  after(async () => {
    await stop();
    process.off('exit', killNow);
  });

  await launch();
  return {
    port,
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

function sendCommand(port: number, parts: string[]): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    socket.setTimeout(2000, () => socket.destroy(new Error('redis command timed out')));
    socket.on('connect', () => socket.write(encodeCommand(parts)));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const reply = parseReply(buf, 0);
      if (reply) {
        socket.end();
        resolve(reply[0]);
      }
    });
    socket.on('error', reject);
  });
}
