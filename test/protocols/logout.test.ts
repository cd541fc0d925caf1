/**
 * The single-logout chain without a server: the order SPs are asked in, when a logout counts as
 * partial, and that a chain parked in the shared store comes back exactly as it went in.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogoutInitiator, LogoutParticipant } from '../../src/protocols/saml2/idp.js';
import { answered, beginLogout, couldNotAsk, logoutChainSchema, nextStep, refuseLogout, type LogoutChain, type LogoutStep } from '../../src/protocols/saml2/logout.js';

const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  partialLogout: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout',
} as const;

const SP_A: LogoutParticipant = {
  rpEntityId: 'https://a.corp.example/saml',
  nameId: { format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', value: 'alice@corp.example' },
  sessionIndex: '_idx-a',
};
const SP_B: LogoutParticipant = {
  rpEntityId: 'https://b.corp.example/saml',
  nameId: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', value: 'b-opaque-1' },
  sessionIndex: '_idx-b',
};
const INITIATOR: LogoutInitiator = { rpEntityId: 'https://init.corp.example/saml', requestId: '_req-1', relayState: 'rs-1' };
const CLEANUP = ['https://wsfed.corp.example/app/?wa=wsignoutcleanup1.0'];
const RETURN_TO = 'https://wsfed.corp.example/app/signed-out';

/** Frozen all the way down: a function that writes into what it was given throws (ESM is strict mode). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What a chain is after JSON: keys holding undefined are gone, which the in-memory chains do have. */
function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]));
  }
  return value;
}

function ask(step: LogoutStep): Extract<LogoutStep, { kind: 'ask' }> {
  assert.equal(step.kind, 'ask', `expected an ask, got ${JSON.stringify(step)}`);
  return step as Extract<LogoutStep, { kind: 'ask' }>;
}

function done(step: LogoutStep): Extract<LogoutStep, { kind: 'done' }> {
  assert.equal(step.kind, 'done', `expected done, got ${JSON.stringify(step)}`);
  return step as Extract<LogoutStep, { kind: 'done' }>;
}

describe('no SP to tell', () => {
  const cases: { name: string; initiator?: LogoutInitiator }[] = [
    { name: 'logout started here' },
    { name: 'logout started by an SP', initiator: INITIATOR },
  ];
  for (const { name, initiator } of cases) {
    test(`${name}: done at once, success`, () => {
      const step = done(nextStep(beginLogout({ initiator, participants: [], wsfedCleanup: [] })));
      assert.equal(step.result, 'success');
      assert.deepEqual(step.chain.initiator, initiator);
      assert.deepEqual(step.chain.remaining, []);
      assert.equal(step.chain.awaiting, undefined);
      assert.equal(step.chain.partial, false);
    });
  }
});

describe('two SPs, both confirm', () => {
  test('asks each in order, then done with success', () => {
    const first = ask(nextStep(beginLogout({ initiator: INITIATOR, participants: [SP_A, SP_B], wsfedCleanup: [] })));
    assert.deepEqual(first.participant, SP_A);
    assert.equal(first.waiting.awaiting, SP_A.rpEntityId);
    assert.deepEqual(first.waiting.remaining, [SP_B]);
    assert.equal(first.waiting.partial, false);

    const a = answered(first.waiting, SP_A.rpEntityId, STATUS.success);
    assert.equal(a.confirmed, true);
    assert.equal(a.chain.partial, false);
    assert.equal(a.chain.awaiting, undefined);

    const second = ask(nextStep(a.chain));
    assert.deepEqual(second.participant, SP_B);
    assert.equal(second.waiting.awaiting, SP_B.rpEntityId);
    assert.deepEqual(second.waiting.remaining, []);

    const b = answered(second.waiting, SP_B.rpEntityId, STATUS.success);
    assert.equal(b.confirmed, true);

    const end = done(nextStep(b.chain));
    assert.equal(end.result, 'success');
    assert.deepEqual(end.chain.initiator, INITIATOR);
    assert.equal(end.chain.partial, false);
  });
});

describe('an answer that does not confirm leaves the logout partial, and the chain goes on', () => {
  const cases: { name: string; from: string; status: string }[] = [
    { name: 'an SP we do not wait for, answering Success', from: SP_B.rpEntityId, status: STATUS.success },
    { name: 'an unknown SP, answering Success', from: 'https://stranger.example/saml', status: STATUS.success },
    { name: 'the awaited SP, answering Responder', from: SP_A.rpEntityId, status: STATUS.responder },
    { name: 'the awaited SP, answering Requester', from: SP_A.rpEntityId, status: STATUS.requester },
    { name: 'the awaited SP, answering PartialLogout', from: SP_A.rpEntityId, status: STATUS.partialLogout },
    { name: 'the awaited SP, answering no status', from: SP_A.rpEntityId, status: '' },
    // Status codes are URIs, compared exactly.
    { name: 'the awaited SP, Success in another case', from: SP_A.rpEntityId, status: STATUS.success.toLowerCase() },
    { name: 'the awaited SP, with trailing space', from: SP_A.rpEntityId, status: `${STATUS.success} ` },
  ];
  for (const { name, from, status } of cases) {
    test(name, () => {
      const first = ask(nextStep(beginLogout({ participants: [SP_A, SP_B], wsfedCleanup: [] })));
      const a = answered(first.waiting, from, status);
      assert.equal(a.confirmed, false);
      assert.equal(a.chain.partial, true);
      assert.equal(a.chain.awaiting, undefined);

      const second = ask(nextStep(a.chain));
      assert.deepEqual(second.participant, SP_B);
      const b = answered(second.waiting, SP_B.rpEntityId, STATUS.success);
      assert.equal(b.confirmed, true);
      // One SP failing is not forgotten because a later one confirmed.
      assert.equal(b.chain.partial, true);
      assert.equal(done(nextStep(b.chain)).result, 'partial');
    });
  }

  test('a response when nothing is awaited confirms nothing', () => {
    const { chain, confirmed } = answered(beginLogout({ participants: [], wsfedCleanup: [] }), SP_A.rpEntityId, STATUS.success);
    assert.equal(confirmed, false);
    assert.equal(done(nextStep(chain)).result, 'partial');
  });
});

describe('an SP that cannot be asked', () => {
  const cases: { name: string; participants: LogoutParticipant[]; next: LogoutParticipant | undefined }[] = [
    { name: 'the only one', participants: [SP_A], next: undefined },
    { name: 'the first of two', participants: [SP_A, SP_B], next: SP_B },
  ];
  for (const { name, participants, next } of cases) {
    test(`${name}: partial, the chain goes on`, () => {
      const first = ask(nextStep(beginLogout({ initiator: INITIATOR, participants, wsfedCleanup: [] })));
      const chain = couldNotAsk(first.waiting);
      assert.equal(chain.partial, true);
      assert.equal(chain.awaiting, undefined);
      let step = nextStep(chain);
      if (next) {
        const asked = ask(step);
        assert.deepEqual(asked.participant, next);
        step = nextStep(answered(asked.waiting, next.rpEntityId, STATUS.success).chain);
      }
      const end = done(step);
      assert.equal(end.result, 'partial');
      assert.deepEqual(end.chain.initiator, INITIATOR);
    });
  }
});

describe('a LogoutRequest for a session that is not this browser’s', () => {
  const refused = refuseLogout(INITIATOR);
  const cases: { name: string; chain: LogoutChain }[] = [
    { name: 'as refused', chain: refused },
    { name: 'then partial too', chain: { ...refused, partial: true } },
    { name: 'after couldNotAsk', chain: couldNotAsk(refused) },
    { name: 'after an unconfirmed answer', chain: answered(refused, SP_A.rpEntityId, STATUS.responder).chain },
    { name: 'after a confirmed answer', chain: answered({ ...refused, awaiting: SP_A.rpEntityId }, SP_A.rpEntityId, STATUS.success).chain },
  ];
  for (const { name, chain } of cases) {
    test(`${name}: done with unknown-principal`, () => {
      const end = done(nextStep(chain));
      assert.equal(end.result, 'unknown-principal');
      assert.deepEqual(end.chain.initiator, INITIATOR);
    });
  }

  test('tells no SP and cleans up no WS-Fed RP', () => {
    assert.deepEqual(refused.remaining, []);
    assert.deepEqual(refused.wsfedCleanup, []);
    assert.equal(refused.unknownPrincipal, true);
  });
});

describe('what the last page needs is carried to the done chain', () => {
  const cases: { name: string; participants: LogoutParticipant[]; finish: (w: LogoutChain, p: LogoutParticipant) => LogoutChain; result: string }[] = [
    { name: 'no SP', participants: [], finish: (w) => w, result: 'success' },
    { name: 'SPs confirming', participants: [SP_A, SP_B], finish: (w, p) => answered(w, p.rpEntityId, STATUS.success).chain, result: 'success' },
    { name: 'SPs failing', participants: [SP_A, SP_B], finish: (w, p) => answered(w, p.rpEntityId, STATUS.responder).chain, result: 'partial' },
    { name: 'SPs not askable', participants: [SP_A, SP_B], finish: (w) => couldNotAsk(w), result: 'partial' },
  ];
  for (const { name, participants, finish, result } of cases) {
    test(name, () => {
      let step = nextStep(beginLogout({ participants, wsfedCleanup: CLEANUP, returnTo: RETURN_TO }));
      const asked: string[] = [];
      while (step.kind === 'ask') {
        asked.push(step.participant.rpEntityId);
        step = nextStep(finish(step.waiting, step.participant));
      }
      assert.deepEqual(asked, participants.map((p) => p.rpEntityId));
      assert.equal(step.result, result);
      assert.deepEqual(step.chain.wsfedCleanup, CLEANUP);
      assert.equal(step.chain.returnTo, RETURN_TO);
    });
  }
});

describe('inputs are never written to', () => {
  const waiting = () => ask(nextStep(beginLogout({ initiator: INITIATOR, participants: [SP_A, SP_B], wsfedCleanup: CLEANUP, returnTo: RETURN_TO }))).waiting;
  const cases: { name: string; input: () => unknown; run: (input: never) => unknown }[] = [
    { name: 'beginLogout', input: () => ({ initiator: INITIATOR, participants: [SP_A, SP_B], wsfedCleanup: CLEANUP, returnTo: RETURN_TO }), run: (s: Parameters<typeof beginLogout>[0]) => beginLogout(s) },
    { name: 'refuseLogout', input: () => ({ ...INITIATOR }), run: (i: LogoutInitiator) => refuseLogout(i) },
    { name: 'nextStep (ask)', input: () => beginLogout({ participants: [SP_A, SP_B], wsfedCleanup: CLEANUP }), run: (c: LogoutChain) => nextStep(c) },
    { name: 'nextStep (done)', input: () => ({ ...waiting(), remaining: [] }), run: (c: LogoutChain) => nextStep(c) },
    { name: 'couldNotAsk', input: waiting, run: (c: LogoutChain) => couldNotAsk(c) },
    { name: 'answered (confirmed)', input: waiting, run: (c: LogoutChain) => answered(c, SP_A.rpEntityId, STATUS.success) },
    { name: 'answered (not confirmed)', input: waiting, run: (c: LogoutChain) => answered(c, SP_B.rpEntityId, STATUS.responder) },
  ];
  for (const { name, input, run } of cases) {
    test(name, () => {
      const value = input();
      const before = structuredClone(value);
      run(deepFreeze(value) as never);
      assert.deepEqual(value, before);
    });
  }

  test('a chain does not share its arrays with what it was made from', () => {
    const participants = [SP_A];
    const wsfedCleanup = [...CLEANUP];
    const chain = beginLogout({ participants, wsfedCleanup });
    participants.push(SP_B);
    wsfedCleanup.push('https://late.example/');
    assert.deepEqual(chain.remaining, [SP_A]);
    assert.deepEqual(chain.wsfedCleanup, CLEANUP);
  });
});

describe('logoutChainSchema: a parked chain comes back as it went in', () => {
  const begun = beginLogout({ initiator: INITIATOR, participants: [SP_A, SP_B], wsfedCleanup: CLEANUP, returnTo: RETURN_TO });
  const waiting = ask(nextStep(begun)).waiting;
  const cases: { name: string; chain: LogoutChain }[] = [
    { name: 'just begun, from an SP', chain: begun },
    { name: 'just begun, here, nothing optional', chain: beginLogout({ participants: [SP_A], wsfedCleanup: [] }) },
    { name: 'waiting for an SP', chain: waiting },
    { name: 'partial', chain: couldNotAsk(waiting) },
    { name: 'refused', chain: refuseLogout(INITIATOR) },
    { name: 'initiator without RelayState', chain: refuseLogout({ rpEntityId: INITIATOR.rpEntityId, requestId: INITIATOR.requestId }) },
    { name: 'done', chain: done(nextStep({ ...waiting, remaining: [] })).chain },
  ];
  for (const { name, chain } of cases) {
    test(name, () => {
      const back = logoutChainSchema.parse(JSON.parse(JSON.stringify(chain)));
      assert.deepEqual(back, withoutUndefined(chain));
      // Carries on from the store exactly as it would have in memory.
      assert.deepEqual(withoutUndefined(nextStep(back)), withoutUndefined(nextStep(chain)));
    });
  }
});

describe('logoutChainSchema refuses what is not a chain', () => {
  const good = JSON.parse(JSON.stringify(ask(nextStep(beginLogout({ initiator: INITIATOR, participants: [SP_A, SP_B], wsfedCleanup: CLEANUP, returnTo: RETURN_TO }))).waiting)) as Record<string, unknown>;
  const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));
  const { sessionIndex: _dropped, ...participantWithoutIndex } = SP_B;
  const cases: { name: string; value: unknown }[] = [
    { name: 'undefined', value: undefined },
    { name: 'null', value: null },
    { name: 'a string', value: JSON.stringify(good) },
    { name: 'an array', value: [good] },
    { name: 'missing partial', value: without('partial') },
    { name: 'missing unknownPrincipal', value: without('unknownPrincipal') },
    { name: 'missing remaining', value: without('remaining') },
    { name: 'missing wsfedCleanup', value: without('wsfedCleanup') },
    { name: 'remaining not an array', value: { ...good, remaining: SP_B } },
    { name: 'remaining null', value: { ...good, remaining: null } },
    { name: 'participant without sessionIndex', value: { ...good, remaining: [participantWithoutIndex] } },
    { name: 'participant without nameId value', value: { ...good, remaining: [{ ...SP_B, nameId: { format: SP_B.nameId.format } }] } },
    { name: 'participant as a string', value: { ...good, remaining: [SP_B.rpEntityId] } },
    { name: 'partial as a string', value: { ...good, partial: 'false' } },
    { name: 'partial as a number', value: { ...good, partial: 0 } },
    { name: 'unknownPrincipal null', value: { ...good, unknownPrincipal: null } },
    { name: 'awaiting as a number', value: { ...good, awaiting: 1 } },
    { name: 'awaiting null', value: { ...good, awaiting: null } },
    { name: 'wsfedCleanup of numbers', value: { ...good, wsfedCleanup: [1, 2] } },
    { name: 'wsfedCleanup a string', value: { ...good, wsfedCleanup: CLEANUP[0] } },
    { name: 'returnTo an object', value: { ...good, returnTo: { url: RETURN_TO } } },
    { name: 'initiator without requestId', value: { ...good, initiator: { rpEntityId: INITIATOR.rpEntityId } } },
    { name: 'initiator a string', value: { ...good, initiator: INITIATOR.rpEntityId } },
    { name: 'initiator relayState a number', value: { ...good, initiator: { ...INITIATOR, relayState: 7 } } },
  ];
  for (const { name, value } of cases) {
    test(name, () => {
      assert.equal(logoutChainSchema.safeParse(value).success, false);
    });
  }
});

describe('an SP still awaited when the chain moves on', () => {
  test('never answered: the logout is partial, not a success', () => {
    const first = nextStep(beginLogout({ participants: [SP_A, SP_B], wsfedCleanup: [] }));
    assert.equal(first.kind, 'ask');
    if (first.kind !== 'ask') return;
    // No answered()/couldNotAsk() for SP_A: its answer never came.
    const second = nextStep(first.waiting);
    assert.equal(second.kind, 'ask');
    if (second.kind !== 'ask') return;
    assert.equal(second.waiting.awaiting, SP_B.rpEntityId);
    const done = nextStep(answered(second.waiting, SP_B.rpEntityId, STATUS.success).chain);
    assert.equal(done.kind, 'done');
    assert.equal(done.kind === 'done' && done.result, 'partial');
  });
});
