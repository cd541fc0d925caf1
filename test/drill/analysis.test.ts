/**
 * The drill's reading of a fault's timeline (scripts/drill/analysis.ts), on made-up outcomes whose
 * answers are known: failures by kind, the longest gap, recovery, the drain's classes, log volume.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logVolume, summarise, summariseDrain, type Outcome } from '../../scripts/drill/analysis.js';

const ok = (sentAt: number, endedAt = sentAt + 5): Outcome => ({ kind: 'token', sentAt, endedAt, result: 'ok' });
const fail = (sentAt: number, o: Partial<Outcome>): Outcome => ({ kind: 'token', sentAt, endedAt: sentAt + 5, result: 'status', status: 503, ...o });

describe('summarise: one kind of request around a fault', () => {
  // Fault at 1000, cause removed at 2000; window 0..3000.
  const window = { from: 0, faultAt: 1000, restoredAt: 2000, to: 3000 };
  const timeline: Outcome[] = [
    ok(100), ok(900),
    fail(1000, {}), fail(1500, {}), fail(1995, { result: 'reset', error: 'ECONNRESET', status: undefined }),
    ok(2100), ok(2900),
    { kind: 'signin', sentAt: 1200, endedAt: 1300, result: 'hang' },
  ];

  test('failures counted by how they failed; other kinds and requests outside the window left out', () => {
    const s = summarise([...timeline, ok(3500), fail(-10, {})], 'token', window);
    assert.equal(s.requests, 7);
    assert.equal(s.ok, 4);
    assert.deepEqual(s.failed, { 503: 2, ECONNRESET: 1 });
  });

  test('longest gap: between the last success before and the first after the failures', () => {
    assert.equal(summarise(timeline, 'token', window).longestGapMs, 2105 - 905);
  });

  test('recovery: from the cause removed to the first success after the last failure', () => {
    assert.equal(summarise(timeline, 'token', window).recoveryMs, 2105 - 2000);
  });

  test('nothing failed: recovery 0; nothing succeeded after the last failure: undefined', () => {
    assert.equal(summarise([ok(100), ok(2000)], 'token', window).recoveryMs, 0);
    assert.equal(summarise([ok(100), fail(2500, {})], 'token', window).recoveryMs, undefined);
  });

  test('no success at all: the gap is the whole window', () => {
    const s = summarise(timeline, 'signin', window);
    assert.deepEqual(s.failed, { hang: 1 });
    assert.equal(s.longestGapMs, 3000);
  });

  test('a lost session and a 200 that is not a token are told apart', () => {
    const s = summarise([fail(10, { result: 'session-lost', status: 302 }), fail(20, { status: 200, error: 'a 200 without a token' })], 'token', window);
    assert.deepEqual(s.failed, { 'session lost': 1, '200 (a 200 without a token)': 1 });
  });
});

describe('summariseDrain: SIGTERM at 1000', () => {
  const signal = 1000;
  const cases: { name: string; outcome: Outcome; bucket: 'inFlightAnswered' | 'refused' | 'idleKeepAliveClosed' | 'resetInAcceptQueue' | 'dropped' }[] = [
    { name: 'in flight at the signal, answered', outcome: ok(990, 1020), bucket: 'inFlightAnswered' },
    { name: 'refused after the listener closed', outcome: fail(1100, { result: 'refused', status: undefined, endedAt: 1101 }), bucket: 'refused' },
    { name: 'reset on a reused keep-alive connection', outcome: fail(1050, { result: 'reset', error: 'ECONNRESET', reusedConnection: true }), bucket: 'idleKeepAliveClosed' },
    { name: 'reset on a reused connection, sent just before the signal', outcome: fail(960, { result: 'reset', error: 'ECONNRESET', reusedConnection: true, endedAt: 1010 }), bucket: 'idleKeepAliveClosed' },
    { name: 'reset on a reused connection, sent well before the signal', outcome: fail(900, { result: 'reset', error: 'ECONNRESET', reusedConnection: true, endedAt: 1010 }), bucket: 'dropped' },
    { name: 'fresh connection reset as the listener closed', outcome: fail(1090, { result: 'reset', error: 'ECONNRESET', endedAt: 1099 }), bucket: 'resetInAcceptQueue' },
    { name: 'fresh connection made just before the signal, reset as the listener closed', outcome: fail(995, { result: 'reset', error: 'ECONNRESET', endedAt: 1098 }), bucket: 'resetInAcceptQueue' },
    { name: 'fresh connection reset long before the listener closed', outcome: fail(1010, { result: 'reset', error: 'ECONNRESET', endedAt: 1011 }), bucket: 'dropped' },
    { name: 'in flight at the signal, reset', outcome: fail(900, { result: 'reset', error: 'ECONNRESET', endedAt: 1100 }), bucket: 'dropped' },
    { name: 'in flight at the signal, reset well after the listener closed', outcome: fail(995, { result: 'reset', error: 'ECONNRESET', endedAt: 1300 }), bucket: 'dropped' },
    { name: 'answered 503 after the signal', outcome: fail(1020, {}), bucket: 'dropped' },
    { name: 'hung', outcome: fail(1030, { result: 'hang', status: undefined, endedAt: 6030 }), bucket: 'dropped' },
  ];
  // The listener's close is read off the first refusal: 1100 in every case.
  const closing = fail(1099, { result: 'refused', status: undefined, endedAt: 1100 });

  for (const c of cases) {
    test(`${c.name} → ${c.bucket}`, () => {
      const d = summariseDrain([closing, c.outcome], signal);
      assert.equal(d.listenerClosedAfterMs, 100);
      const counts = {
        inFlightAnswered: d.inFlightAnswered,
        refused: c.outcome.result === 'refused' ? 1 : 0,
        idleKeepAliveClosed: d.idleKeepAliveClosed,
        resetInAcceptQueue: d.resetInAcceptQueue,
        dropped: d.dropped.length,
      };
      for (const [bucket, n] of Object.entries(counts)) assert.equal(n, bucket === c.bucket ? 1 : 0, `${bucket} for "${c.name}"`);
    });
  }

  test('requests that ended before the signal are not the drain’s', () => {
    const d = summariseDrain([fail(100, { result: 'reset', error: 'ECONNRESET' }), ok(200)], signal);
    assert.deepEqual([d.inFlight, d.dropped.length, d.listenerClosedAfterMs], [0, 0, undefined]);
  });
});

describe('logVolume', () => {
  test('info lines about a request apart; the service\'s own and every warning by level; anything not JSON as "other"', () => {
    const text = [
      '{"level":30,"time":1,"reqId":"a","msg":"request completed"}',
      '{"level":30,"time":1,"reqId":"a","event":"token.issued","msg":"SAML response issued"}',
      '{"level":40,"time":1,"reqId":"c","msg":"request completed"}',
      '{"level":40,"time":1,"reqId":"b","msg":"Redis lost"}',
      '{"level":50,"time":1,"msg":"Redis lost"}',
      '{"level":30,"time":1,"msg":"Redis back after 1.5 s"}',
      'Error: something',
      '',
    ].join('\n');
    assert.deepEqual(logVolume(text), {
      lines: 7,
      requestLines: 2,
      byLevel: { warn: 2, error: 1, info: 1, other: 1 },
      warnings: { 'request completed': 1, 'Redis lost': 2, 'Error: something': 1 },
    });
  });
});
