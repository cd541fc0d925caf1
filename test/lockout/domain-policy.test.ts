/**
 * Extranet lockout against the domain's own lockoutThreshold: familiar and unknown addresses are
 * counted separately, so 2 × threshold bad passwords can reach AD (lockout/domain-policy.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  domainLockoutRisk,
  largestSafeThreshold,
  thresholdAdvice,
  warnIfDomainLocksFirst,
  type DomainLockoutRisk,
} from '../../src/lockout/domain-policy.js';
import { createLogger } from '../../src/log.js';

describe('domainLockoutRisk', () => {
  const cases: Array<[ours: number, domain: number, risk: DomainLockoutRisk]> = [
    [3, 0, 'never'],
    [1000, 0, 'never'],
    [3, 7, 'safe'],
    [4, 10, 'safe'],
    [1, 3, 'safe'],
    // The example: 3 per kind of address is 6 bad passwords against a domain locking at 5.
    [3, 5, 'both-counters'],
    [5, 10, 'both-counters'],
    [3, 6, 'both-counters'],
    [9, 10, 'both-counters'],
    [1, 2, 'both-counters'],
    [5, 5, 'one-counter'],
    [12, 10, 'one-counter'],
    [1, 1, 'one-counter'],
  ];
  for (const [ours, domain, risk] of cases) {
    test(`lockout.threshold ${ours} against lockoutThreshold ${domain}: ${risk}`, () => {
      assert.equal(domainLockoutRisk(ours, domain), risk);
    });
  }

  test('the advised threshold is the largest safe one, for every domain threshold up to 50', () => {
    for (let domain = 1; domain <= 50; domain++) {
      const largest = largestSafeThreshold(domain);
      if (largest > 0) assert.equal(domainLockoutRisk(largest, domain), 'safe', `domain ${domain}`);
      assert.notEqual(domainLockoutRisk(largest + 1, domain), 'safe', `domain ${domain}`);
    }
  });

  test('advice: a number, or why there is none', () => {
    assert.equal(thresholdAdvice(10), 'use 4 or less');
    assert.equal(thresholdAdvice(5), 'use 2 or less');
    assert.match(thresholdAdvice(2), /leaves no room below it/);
    assert.match(thresholdAdvice(1), /leaves no room below it/);
  });
});

describe('warnIfDomainLocksFirst (start-up)', () => {
  const capture = () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
  };
  const domain = (threshold: number) => async () => ({ domain: 'DC=contoso,DC=com', threshold });

  const cases: Array<[mode: 'off' | 'logOnly' | 'enforce', ours: number, theirs: number, warns: boolean]> = [
    ['enforce', 3, 5, true],
    ['enforce', 5, 5, true],
    ['enforce', 5, 10, true],
    ['enforce', 4, 10, false],
    ['enforce', 50, 0, false],
    // Nothing is refused in these modes, so there is no protection to lose at start-up (doctor still says so).
    ['logOnly', 3, 5, false],
    ['off', 3, 5, false],
  ];
  for (const [mode, ours, theirs, warns] of cases) {
    test(`${mode}, ${ours} against ${theirs}: ${warns ? 'one warning' : 'silent'}`, async () => {
      const { logger, warnings } = capture();
      let asked = 0;
      await warnIfDomainLocksFirst({ mode, threshold: ours }, async () => (asked++, domain(theirs)()), logger);
      assert.equal(warnings().length, warns ? 1 : 0);
      assert.equal(asked, mode === 'enforce' ? 1 : 0, 'the DC is asked only in enforce mode');
    });
  }

  test('the warning names both thresholds, the domain and what to set', async () => {
    const { logger, warnings } = capture();
    await warnIfDomainLocksFirst({ mode: 'enforce', threshold: 3 }, domain(5), logger);
    const [warning] = warnings();
    assert.equal(
      warning?.msg,
      'lockout.threshold 3: AD can still lock accounts, since 6 bad passwords (3 from unknown and 3 from familiar addresses) reach the lockoutThreshold of DC=contoso,DC=com (5); use 2 or less',
    );
    assert.deepEqual([warning?.lockoutThreshold, warning?.domainLockoutThreshold], [3, 5]);
  });

  test('a DC that cannot be asked is an info line, never a failed start', async () => {
    const { logger, lines, warnings } = capture();
    await warnIfDomainLocksFirst({ mode: 'enforce', threshold: 3 }, async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:636')), logger);
    assert.equal(warnings().length, 0);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, 30);
    assert.match(String(lines[0]?.err), /ECONNREFUSED/);
  });
});
