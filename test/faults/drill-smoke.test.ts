/**
 * `npm run drill -- --smoke` as CI's version of the fault drill (issue #17): the script itself, as an
 * operator runs it (it builds dist/, starts OpenFed with two workers, its own Redis with AOF, two
 * addresses in front of the Samba DC), must exit 0 — no request hung, no session lost, no request
 * dropped by the graceful shutdown — and each fault must have really happened and been recovered from.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FaultResult, KindSummary, LogVolume } from '../../scripts/drill/analysis.js';
import { loadAdFacts } from '../helpers/ad.js';

const failures = (s: KindSummary) => s.requests - s.ok;

test('npm run drill -- --smoke: every fault recovered from, no hang, no lost session, a clean drain', { timeout: 600_000 }, async () => {
  const ad = loadAdFacts(); // the drill finds the same DC; fail here, clearly, when there is none
  const json = join(mkdtempSync(join(tmpdir(), 'openfed-drill-smoke-')), 'drill.json');
  const child = spawn('npm', ['run', '--silent', 'drill', '--', '--smoke', '--json', json], {
    env: { ...process.env, OPENFED_TEST_AD_DIR: ad.dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  console.log(output.slice(-6000));
  assert.equal(code, 0, `the drill exited ${code}`);

  const report = JSON.parse(readFileSync(json, 'utf8')) as { requests: number; results: FaultResult[]; problems: string[] };
  const byName = new Map(report.results.map((r) => [r.name, r]));
  assert.deepEqual([...byName.keys()], ['worker SIGKILL', 'Redis killed and restarted', 'first DC cut', 'every DC cut', 'SIGTERM to the primary']);
  assert.deepEqual(report.problems, []);
  for (const r of report.results) {
    assert.equal(r.witnesses.lost, 0, `${r.name}: witness sessions lost`);
    assert.equal((r.token.failed.hang ?? 0) + (r.signin.failed.hang ?? 0), 0, `${r.name}: hangs`);
    assert.ok(r.token.ok > 0 && r.signin.ok > 0, `${r.name}: tokens and sign-ins succeeded around the fault`);
  }

  // Each fault really happened: what it must have done to the requests.
  const redis = byName.get('Redis killed and restarted')!;
  assert.ok((redis.token.failed['503'] ?? 0) > 0, 'Redis down: tokens answered 503');
  assert.equal(failures(redis.token), redis.token.failed['503'], 'Redis down: nothing but 503s');
  assert.ok(redis.token.recoveryMs !== undefined && redis.token.recoveryMs < 5_000, 'tokens again within 5 s of Redis answering');
  // Quiet logs: the outage as a few state lines, not one per refused request.
  const loud = (v: LogVolume) => (v.byLevel.warn ?? 0) + (v.byLevel.error ?? 0) + (v.byLevel.fatal ?? 0);
  assert.ok(loud(redis.logs) <= 6, `Redis outage: ${loud(redis.logs)} warn/error lines for ${failures(redis.token) + failures(redis.signin)} refusals`);

  const allDcs = byName.get('every DC cut')!;
  assert.ok((allDcs.signin.failed['503'] ?? 0) > 0, 'no DC: sign-ins answered 503');
  assert.equal(failures(allDcs.token), 0, 'no DC: tokens for signed-in users go on (sessions are in Redis)');
  assert.ok(loud(allDcs.logs) <= 12, `DC outage: ${loud(allDcs.logs)} warn/error lines for ${failures(allDcs.signin)} refusals`);

  const firstDc = byName.get('first DC cut')!;
  assert.equal(failures(firstDc.token), 0, 'first DC cut: tokens unaffected');

  const drain = byName.get('SIGTERM to the primary')!.drain!;
  assert.ok(drain.inFlight > 0, 'requests were in flight at SIGTERM');
  assert.equal(drain.inFlightAnswered, drain.inFlight, 'every request in flight at SIGTERM answered');
  assert.deepEqual(drain.dropped, []);
  assert.ok(drain.listenerClosedAfterMs !== undefined, 'the listener closed (connections refused) before OpenFed started again');
});
