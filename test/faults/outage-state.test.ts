/**
 * The outage state machine (src/outage.ts): which lines a sequence of failures, ticks and a
 * recovery writes, on a hand-moved clock.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { createLogger } from '../../src/log.js';
import { formatDuration, OutageLog, OutageState, type OutageLine } from '../../src/outage.js';

const MESSAGES = { what: 'Redis', impact: 'sign-ins fail with 503 until it is back' };

type Step = ['fail', number] | ['reconnect failed'] | ['tick'] | ['ok'] | ['wait', number];

/** Runs the steps and returns every line written, as "level msg {fields}". */
function run(steps: Step[], settleMs = 0, reportEveryMs = 10_000): string[] {
  const clock = new ManualClock(0);
  const state = new OutageState(MESSAGES, reportEveryMs, clock, settleMs);
  const out: OutageLine[] = [];
  for (const step of steps) {
    switch (step[0]) {
      case 'fail':
        for (let i = 0; i < step[1]; i++) out.push(...state.failed('ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379'));
        break;
      case 'reconnect failed':
        out.push(...state.failed('ECONNREFUSED', { refused: false }));
        break;
      case 'tick':
        out.push(...state.tick());
        break;
      case 'ok':
        out.push(...state.ok());
        break;
      case 'wait':
        clock.advance(step[1]);
        break;
    }
  }
  return out.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`);
}

describe('OutageState', () => {
  const cases: Array<{ name: string; steps: Step[]; lines: string[] }> = [
    { name: 'nothing happens while up', steps: [['tick'], ['ok'], ['wait', 60_000], ['tick']], lines: [] },
    {
      name: 'a burst of refusals: one "lost" line, with the cause',
      steps: [['fail', 1000]],
      lines: ['warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}'],
    },
    {
      name: 'still down every interval, counting the refusals since the last line (not the first, on the lost line)',
      steps: [['fail', 5], ['wait', 9_999], ['fail', 2], ['wait', 1], ['fail', 1], ['wait', 5_000], ['fail', 4], ['wait', 5_000], ['tick'], ['tick']],
      lines: [
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}',
        'warn Redis still down: 7 refused since the last report {"downMs":10000,"refused":7}',
        'warn Redis still down: 4 refused since the last report {"downMs":20000,"refused":4}',
      ],
    },
    {
      name: 'a quiet outage still reports (the timer ticks), with 0 refused',
      steps: [['fail', 1], ['wait', 10_000], ['tick'], ['wait', 10_000], ['tick']],
      lines: [
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}',
        'warn Redis still down: 0 refused since the last report {"downMs":10000,"refused":0}',
        'warn Redis still down: 0 refused since the last report {"downMs":20000,"refused":0}',
      ],
    },
    {
      name: 'back: the duration and every refusal of the outage; a second outage counts from zero',
      steps: [['fail', 3], ['wait', 12_500], ['fail', 2], ['wait', 500], ['ok'], ['ok'], ['wait', 1_000], ['fail', 1], ['wait', 250], ['ok']],
      lines: [
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}',
        'warn Redis still down: 3 refused since the last report {"downMs":12500,"refused":3}',
        'info Redis back after 13.0 s: 5 refused in all {"downMs":13000,"totalRefused":5}',
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}',
        'info Redis back after 250 ms: 1 refused in all {"downMs":250,"totalRefused":1}',
      ],
    },
    {
      name: 'failed reconnects start an outage and drive the reports, but refuse nobody',
      steps: [['reconnect failed'], ['wait', 10_000], ['reconnect failed'], ['fail', 2], ['ok']],
      lines: [
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED"}',
        'warn Redis still down: 0 refused since the last report {"downMs":10000,"refused":0}',
        'info Redis back after 10.0 s: 2 refused in all {"downMs":10000,"totalRefused":2}',
      ],
    },
  ];
  for (const { name, steps, lines } of cases) {
    test(name, () => assert.deepEqual(run(steps), lines));
  }

  // A Redis Cluster with a dead master: successes and failures alternate until the promotion.
  const settling: Array<{ name: string; steps: Step[]; lines: string[] }> = [
    {
      name: 'settling: successes between failures do not end the outage',
      steps: [['fail', 1], ['wait', 100], ['ok'], ['wait', 100], ['fail', 1], ['wait', 100], ['ok'], ['fail', 1], ['wait', 500], ['ok'], ['wait', 999], ['ok']],
      lines: ['warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}'],
    },
    {
      name: 'settling: back once nothing failed for settleMs after a success, dated from that success',
      steps: [['fail', 1], ['wait', 100], ['ok'], ['fail', 1], ['wait', 400], ['ok'], ['wait', 1_000], ['ok'], ['ok']],
      lines: [
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}',
        'info Redis back after 500 ms: 2 refused in all {"downMs":500,"totalRefused":2}',
      ],
    },
    {
      name: 'settling: the timer says "back" when no request comes to',
      steps: [['fail', 3], ['wait', 2_000], ['ok'], ['wait', 1_000], ['tick']],
      lines: [
        'warn Redis lost: sign-ins fail with 503 until it is back {"reason":"ECONNREFUSED connect ECONNREFUSED 127.0.0.1:6379"}',
        'info Redis back after 2.0 s: 3 refused in all {"downMs":2000,"totalRefused":3}',
      ],
    },
  ];
  for (const { name, steps, lines } of settling) {
    test(name, () => assert.deepEqual(run(steps, 1_000), lines));
  }

  test('never up: "unreachable" instead of "lost"', () => {
    const state = new OutageState(MESSAGES, 10_000, new ManualClock(0));
    assert.equal(state.failed('ECONNREFUSED', { refused: false, atStart: true })[0]?.msg, 'Redis unreachable: sign-ins fail with 503 until it is back');
  });

  test('durations read as a person would say them', () => {
    assert.deepEqual([850, 1_000, 12_345, 59_999, 65_000, 3_600_000].map(formatDuration), ['850 ms', '1.0 s', '12.3 s', '60.0 s', '1 min 5 s', '60 min 0 s']);
  });
});

describe('OutageLog', () => {
  test('writes the lines to the logger and reports "still down" on its own while nothing happens', async () => {
    const written: Array<{ level: number; msg: string }> = [];
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, done) => (written.push(JSON.parse(chunk.toString('utf8'))), done()) }));
    const clock = new ManualClock(0);
    const log = new OutageLog(logger, MESSAGES, 20, clock);
    log.failed('ECONNREFUSED');
    log.failed('ECONNREFUSED');
    clock.advance(20);
    await new Promise((resolve) => setTimeout(resolve, 60));
    log.ok();
    log.ok();
    assert.deepEqual(
      written.map((l) => `${l.level} ${l.msg}`),
      ['40 Redis lost: sign-ins fail with 503 until it is back', '40 Redis still down: 1 refused since the last report', '30 Redis back after 20 ms: 2 refused in all'],
    );
    assert.equal(log.down, false);
  });

  test('settling: "back" written by its own timer once the outage has settled', async () => {
    const written: string[] = [];
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _e, done) => (written.push(JSON.parse(chunk.toString('utf8')).msg), done()) }));
    const clock = new ManualClock(0);
    const log = new OutageLog(logger, MESSAGES, 10_000, clock, 30);
    log.failed('ECONNREFUSED');
    clock.advance(10);
    log.ok();
    assert.equal(log.down, true, 'not back at the first success');
    clock.advance(30);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(written, ['Redis lost: sign-ins fail with 503 until it is back', 'Redis back after 10 ms: 1 refused in all']);
    assert.equal(log.down, false);
  });
});
