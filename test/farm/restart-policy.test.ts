/**
 * When a dead worker is restarted, and when the primary gives up: on a hand-moved clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { defaultRestartPolicy, RestartPolicy } from '../../src/cluster/restart-policy.js';

const options = { maxDeaths: 4, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 1_000 };

test('a death now and then is restarted after the base delay, forever', () => {
  const clock = new ManualClock();
  const policy = new RestartPolicy(clock, options);
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(policy.onDeath(), { restart: true, delayMs: 100, recentDeaths: 1 });
    clock.advance(60_000);
  }
});

test('deaths in quick succession back off (doubling, capped), then stop the farm', () => {
  const clock = new ManualClock();
  const policy = new RestartPolicy(clock, { ...options, maxDelayMs: 300 });
  const delays = [];
  for (let i = 0; i < 4; i++) {
    const decision = policy.onDeath();
    assert.ok(decision.restart);
    delays.push(decision.delayMs);
    clock.advance(1_000);
  }
  assert.deepEqual(delays, [100, 200, 300, 300]);
  assert.deepEqual(policy.onDeath(), { restart: false, recentDeaths: 5 });
});

test('deaths older than the window are forgotten', () => {
  const clock = new ManualClock();
  const policy = new RestartPolicy(clock, options);
  for (let i = 0; i < 4; i++) policy.onDeath();
  clock.advance(60_000);
  assert.deepEqual(policy.onDeath(), { restart: true, delayMs: 100, recentDeaths: 1 });
});

test('the default tolerates more deaths on a bigger farm', () => {
  assert.equal(defaultRestartPolicy(2).maxDeaths, 5);
  assert.equal(defaultRestartPolicy(16).maxDeaths, 32);
});
