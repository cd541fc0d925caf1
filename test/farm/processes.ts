/**
 * OpenFed as operators run it, for the farm tests: the real entry point (src/main.ts) in a child
 * process with its own YAML configuration, its JSON log lines kept for reading, and plain HTTP/1.1
 * on a fresh connection per request so that the kernel spreads them over the workers (they accept from the shared socket).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';

export interface OpenFedProcess {
  child: ChildProcessWithoutNullStreams;
  /** The public listener (shared by every worker). */
  url: string;
  managementUrl: string | undefined;
  dataDir: string;
  output(): string;
  /** Parsed JSON log lines so far. */
  logs(): LogLine[];
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export type LogLine = Record<string, unknown> & { msg?: string; pid?: number };

const START_TIMEOUT_MS = 90_000;

export async function startOpenFed(config: Record<string, unknown>, options: { waitFor?: RegExp } = {}): Promise<OpenFedProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'openfed-farm-'));
  const file = join(dataDir, 'openfed.yaml');
  writeFileSync(file, stringify({ dataDir, ...config }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, OPENFED_CONFIG: file },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const workers = (config.server as { workers?: unknown } | undefined)?.workers;
  // A farm is up when the primary says so, after every worker's own "OpenFed listening".
  const ready = options.waitFor ?? (typeof workers === 'number' && workers > 1 ? /"msg":"OpenFed farm listening"/ : /"msg":"OpenFed listening"/);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!ready.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`OpenFed did not start:\n${out}`);
    }
    await sleep(50);
  }
  const logs = () => parseLogs(out);
  const listening = logs().find((l) => l.msg === 'OpenFed listening');
  const farm = logs().find((l) => l.msg === 'OpenFed farm listening');
  const url = String(listening?.url);
  const managementUrl = (farm?.managementUrl ?? listening?.managementUrl) as string | undefined;
  return {
    child,
    url,
    managementUrl,
    dataDir,
    output: () => out,
    logs,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(dataDir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}

/** Runs the entry point to its end (a start that must fail); its exit code and output. */
export async function runOpenFedToExit(config: Record<string, unknown>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'openfed-farm-'));
  const file = join(dataDir, 'openfed.yaml');
  writeFileSync(file, stringify({ dataDir, ...config }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, OPENFED_CONFIG: file } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  rmSync(dataDir, { recursive: true, force: true });
  return { code, stdout, stderr };
}

export function parseLogs(text: string): LogLine[] {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request on a connection of its own (no keep-alive): the cluster hands each to a worker in turn. */
export function send(url: string, options: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? (body ? 'POST' : 'GET'),
        agent: false,
        headers: {
          connection: 'close',
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A browser's cookies, enough for OpenFed's: name=value, sent to every node of the farm alike. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  take(answer: HttpAnswer): HttpAnswer {
    const set = answer.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair!.slice(eq + 1).trim());
    }
    return answer;
  }

  header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }
}

/** Waits for a condition the farm reaches by itself (a worker restarted); fails after the deadline. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(200);
  }
}
