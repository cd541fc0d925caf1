/**
 * The floor of token issuance: RSA-2048 SHA-256 signatures per CPU-second of one core, with a
 * pre-parsed KeyObject, as OpenFed's signing key is. Runs in a child process of its own, so its CPU
 * time is its own and not the bench's event loop.
 *
 *   tsx scripts/bench/raw-sign.ts <seconds>   prints {"signatures":…,"cpuSeconds":…}
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export interface RawSignRate {
  signatures: number;
  cpuSeconds: number;
  /** signatures per CPU-second of the signing process */
  perCpuSecond: number;
}

function signLoop(seconds: number): { signatures: number; cpuSeconds: number } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // About the size of a SignedInfo element: what a token signature really covers.
  const data = randomBytes(600);
  for (let i = 0; i < 20; i++) sign('sha256', data, privateKey); // warm up
  const start = process.cpuUsage();
  const deadline = performance.now() + seconds * 1000;
  let signatures = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 10; i++) sign('sha256', data, privateKey);
    signatures += 10;
  }
  const used = process.cpuUsage(start);
  return { signatures, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** Runs the loop in a child process for about `seconds`. */
export function measureRawSignRate(seconds: number): Promise<RawSignRate> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), String(seconds)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`raw signing child exited ${code}: ${err.trim().slice(0, 500)}`));
      try {
        const r = JSON.parse(out) as { signatures: number; cpuSeconds: number };
        resolve({ ...r, perCpuSecond: r.signatures / r.cpuSeconds });
      } catch {
        reject(new Error(`raw signing child printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

/**
 * The raw rate measured right before and right after `work`, and the higher of the two: other
 * tenants of a shared machine can only slow a tight signing loop down, never speed it up, so the
 * higher reading is the nearer to what one core can do, and one disturbed reading cannot inflate
 * an efficiency.
 */
export async function rawSignRateAround<T>(seconds: number, work: () => Promise<T>): Promise<{ rate: number; readings: [number, number]; result: T }> {
  const before = await measureRawSignRate(seconds);
  const result = await work();
  const after = await measureRawSignRate(seconds);
  return { rate: Math.max(before.perCpuSecond, after.perCpuSecond), readings: [before.perCpuSecond, after.perCpuSecond], result };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? '2');
  process.stdout.write(JSON.stringify(signLoop(seconds > 0 ? seconds : 2)));
}
