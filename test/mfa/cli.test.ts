/**
 * `openfed mfa status|reset`, spawned as the help desk runs it, against the store a server wrote
 * (seeded here through MfaService): the data-directory files of a one-node install, and Redis.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { authenticator } from 'otplib';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { silentLogger } from '../../src/log.js';
import { FileMfaStore } from '../../src/mfa/file-store.js';
import { RedisMfaStore } from '../../src/mfa/redis-store.js';
import { MfaService } from '../../src/mfa/service.js';
import type { MfaStore } from '../../src/mfa/types.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { MemoryReplayCache } from '../../src/sessions/memory.js';
import { startRedisServer } from '../helpers/redis.js';

const run = promisify(execFile);
const redis = await startRedisServer();
const connection = new RedisConnection({ url: redis.url, keyPrefix: 'cli:', connectTimeoutMs: 2000, commandTimeoutMs: 2000 }, silentLogger);
const dirs: string[] = [];
after(async () => {
  await connection.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function install(redisUrl?: string): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-mfa-cli-'));
  dirs.push(dir);
  const config = join(dir, 'openfed.yaml');
  const lines = [`dataDir: ${dir}`];
  if (redisUrl) lines.push('sessions:', '  redis:', `    url: ${redisUrl}`, '    keyPrefix: "cli:"');
  writeFileSync(config, `${lines.join('\n')}\n`);
  return { dir, config };
}

async function openfed(config: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mfa', ...args], { env: { ...process.env, OPENFED_CONFIG: config } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Enrols the user as a server would, then spends wrong codes; returns the service for later checks. */
async function seed(store: MfaStore, upn: string, wrongCodes: number): Promise<MfaService> {
  const mfa = new MfaService({
    store,
    replay: new MemoryReplayCache(),
    audit: new MemoryAuditLog(),
    encryptionSecret: 'a-test-encryption-secret-of-at-least-32-chars',
    issuer: 'Contoso',
  });
  const begun = await mfa.beginEnrolment(upn);
  assert.ok(begun.ok);
  assert.ok((await mfa.confirmEnrolment(upn, authenticator.generate(begun.secret), { clientIp: '127.0.0.1' })).ok);
  for (let i = 0; i < wrongCodes; i++) await mfa.verify(upn, '00000a', { clientIp: '127.0.0.1' });
  return mfa;
}

async function statusThenReset(config: string, dir: string, mfa: MfaService) {
  const json = await openfed(config, ['status', 'Carol@Contoso.com', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.equal(report.user, 'carol@contoso.com');
  assert.equal(report.enrolled, true);
  assert.deepEqual((report.methods as Array<{ method: string }>).map((m) => m.method), ['totp']);
  assert.equal(report.recoveryCodesLeft, 10);
  assert.equal(report.wrongCodes, 5);
  assert.ok(typeof report.refusedUntil === 'string' && Date.parse(report.refusedUntil) > Date.now(), String(report.refusedUntil));

  const text = await openfed(config, ['status', 'carol@contoso.com']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Second factor:\s+enrolled .* \(totp\)/);
  assert.match(text.stdout, /Wrong codes:\s+5\s+codes REFUSED until/);

  const reset = await openfed(config, ['reset', 'carol@contoso.com']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(reset.stdout, /reset/);
  assert.equal((await mfa.status('carol@contoso.com')).enrolled, false);
  assert.deepEqual(await mfa.verify('carol@contoso.com', '123456', { clientIp: '127.0.0.1' }), { ok: false, reason: 'not_enrolled' });
  const audit = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(audit.some((e) => e.type === 'mfa.reset' && e.user === 'carol@contoso.com' && typeof e.by === 'string' && e.by !== ''));
  assert.ok(audit.some((e) => e.type === 'admin.change' && e.command === 'mfa reset' && e.target === 'carol@contoso.com'));

  const again = await openfed(config, ['reset', 'carol@contoso.com', '--json']);
  assert.deepEqual(JSON.parse(again.stdout), { user: 'carol@contoso.com', wasEnrolled: false });
  const empty = JSON.parse((await openfed(config, ['status', 'carol@contoso.com', '--json'])).stdout) as Record<string, unknown>;
  assert.deepEqual([empty.enrolled, empty.wrongCodes, empty.refusedUntil], [false, 0, null]);
}

describe('openfed mfa', () => {
  test('one node without Redis: status and reset on <dataDir>/mfa (audited)', async () => {
    const { dir, config } = install();
    const mfa = await seed(new FileMfaStore(join(dir, 'mfa')), 'carol@contoso.com', 5);
    await statusThenReset(config, dir, mfa);
  });

  test('a farm: status and reset in Redis (audited)', async () => {
    const { dir, config } = install(redis.url);
    const mfa = await seed(new RedisMfaStore(connection), 'carol@contoso.com', 5);
    await statusThenReset(config, dir, mfa);
  });

  test('a mistake is one line and exit code 1', async () => {
    const { config } = install();
    const res = await openfed(config, ['status']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /missing required argument/);
  });
});
