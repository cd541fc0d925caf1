/**
 * openfed_mfa_total, read from the management listener while real second-factor flows run over HTTP:
 * enrolment, a wrong code, the right one, a replay, a recovery code (and the same again), the
 * wrong-code limit, a code after a help-desk reset. Each step of the table says exactly which series
 * it adds to, so a failed and a succeeded code are seen to count apart and nothing else counts. Then
 * two servers' registries are added up the way the cluster primary adds its workers'. No label may
 * carry the user, a code, the secret or the client address.
 * Codes come from otplib at the test's own clock, as an authenticator app makes them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authenticator } from 'otplib';
import { AggregatorRegistry } from 'prom-client';
import request from 'supertest';
import { ManualClock } from '../../src/clock.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const SERIES = 'openfed_mfa_total';
/** The closed label sets: anything else in a label is a leak or a new outcome the README must name. */
const ALLOWED = {
  outcome: ['success', 'failure', 'enrolled'],
  method: ['', 'totp', 'recovery'],
  reason: ['', 'wrong_code', 'replayed', 'too_many_attempts', 'not_enrolled'],
} as const;

type Counts = Record<string, number>;

/** `outcome/method/reason`, the key the table uses for one series. */
function key(labels: Record<string, string>): string {
  return `${labels.outcome}/${labels.method}/${labels.reason}`;
}

function labelsOf(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** Every openfed_mfa_total series of a scrape, by key. */
function mfaCounts(text: string): Counts {
  const counts: Counts = {};
  for (const m of text.matchAll(new RegExp(`^${SERIES}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const labels = labelsOf(m[1]!);
    assert.deepEqual(Object.keys(labels).sort(), ['method', 'outcome', 'reason'], m[0]);
    for (const [name, value] of Object.entries(labels)) {
      assert.ok((ALLOWED[name as keyof typeof ALLOWED] as readonly string[]).includes(value), `${name}="${value}" is not in the closed set`);
    }
    counts[key(labels)] = Number(m[2]);
  }
  return counts;
}

function add(total: Counts, delta: Counts): Counts {
  const sum = { ...total };
  for (const [k, v] of Object.entries(delta)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

/** One browser of the demo user against one server: signed in, then the MFA pages. */
class MfaBrowser {
  readonly agent: request.Agent;
  /** The last form page: its CSRF token posts the next code. */
  page = '';
  secret = '';
  recoveryCodes: string[] = [];

  constructor(
    server: TestServer,
    private readonly clock: ManualClock,
  ) {
    this.agent = request.agent(server.url);
  }

  /** What the authenticator app shows now. */
  code(): string {
    return authenticator.clone({ epoch: this.clock.now() }).generate(this.secret);
  }

  /** Six digits that are none of the codes accepted now (±1 step). */
  wrongCode(): string {
    const accepted = new Set([-30_000, 0, 30_000].map((d) => authenticator.clone({ epoch: this.clock.now() + d }).generate(this.secret)));
    for (let n = 0; ; n++) {
      const candidate = String(n * 111_111 % 1_000_000).padStart(6, '0');
      if (!accepted.has(candidate)) return candidate;
    }
  }

  /** The password, then GET /mfa: the enrolment page with the new key. */
  async signInAndOpenEnrolment(): Promise<void> {
    const form = await this.agent.get('/signin').expect(200);
    await this.agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    const enrol = await this.agent.get('/mfa').expect(200);
    this.secret = /<code id="secret" class="secret">([^<]+)<\/code>/.exec(enrol.text)![1]!.replace(/\s+/g, '');
    this.page = enrol.text;
  }

  /** A code posted to /mfa or /mfa/enrol; the page of the answer becomes the next form. */
  async post(path: '/mfa' | '/mfa/enrol', code: string): Promise<number> {
    const res = await this.agent.post(path).type('form').send({ _csrf: csrfFrom(this.page), code });
    const codes = [...res.text.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
    if (codes.length) this.recoveryCodes = codes;
    // A redirect or the recovery codes: signed in with the second factor (a new session id, so a new
    // CSRF token), and the next code goes through the prompt again.
    this.page = res.status === 303 || codes.length ? (await this.agent.get('/mfa').expect(200)).text : res.text;
    return res.status;
  }
}

async function scrape(server: TestServer): Promise<string> {
  return (await request(server.managementUrl!).get('/metrics').expect(200)).text;
}

describe('openfed_mfa_total counts second-factor outcomes over HTTP', () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 6, 12, 0, 0));
  let server: TestServer;
  let browser: MfaBrowser;
  /** Everything secret the flow saw, which no label may carry. */
  const secrets = new Set<string>();

  before(async () => {
    server = await startTestServer({ management: { port: 0 }, mfa: { maxWrongCodes: 3, wrongCodeWindowMinutes: 5 } }, { clock });
    browser = new MfaBrowser(server, clock);
    await browser.signInAndOpenEnrolment();
    secrets.add(browser.secret);
  });
  after(() => server?.stop());

  const next = () => clock.advance(30_000);
  const submit = async (path: '/mfa' | '/mfa/enrol', code: string) => {
    secrets.add(code);
    return browser.post(path, code);
  };

  // Each row: one step of a user's flow, the status it answers, and what it adds to openfed_mfa_total.
  const steps: Array<{ name: string; act: () => Promise<number>; status: number; counts: Counts }> = [
    { name: 'the password and the enrolment page (before()) count nothing', act: async () => 200, status: 200, counts: {} },
    { name: 'a wrong first code at enrolment is not a second-factor check: not counted', act: () => submit('/mfa/enrol', browser.wrongCode()), status: 400, counts: {} },
    { name: 'the first right code enrols', act: () => submit('/mfa/enrol', browser.code()), status: 200, counts: { 'enrolled/totp/': 1 } },
    { name: 'a wrong code is a failure', act: () => (next(), submit('/mfa', browser.wrongCode())), status: 400, counts: { 'failure//wrong_code': 1 } },
    { name: 'the right code is a success, counted apart from the failure', act: () => submit('/mfa', browser.code()), status: 303, counts: { 'success/totp/': 1 } },
    { name: 'the same code again is replayed', act: () => submit('/mfa', browser.code()), status: 400, counts: { 'failure//replayed': 1 } },
    { name: 'a recovery code is a success by recovery', act: () => submit('/mfa', browser.recoveryCodes[0]!), status: 303, counts: { 'success/recovery/': 1 } },
    { name: 'the used recovery code again is a wrong code', act: () => submit('/mfa', browser.recoveryCodes[0]!), status: 400, counts: { 'failure//wrong_code': 1 } },
    { name: 'a second wrong code', act: () => submit('/mfa', browser.wrongCode()), status: 400, counts: { 'failure//wrong_code': 1 } },
    { name: 'the third reaches mfa.maxWrongCodes', act: () => submit('/mfa', browser.wrongCode()), status: 400, counts: { 'failure//wrong_code': 1 } },
    { name: 'at the limit even the right code is refused: too_many_attempts', act: () => (next(), submit('/mfa', browser.code())), status: 429, counts: { 'failure//too_many_attempts': 1 } },
    {
      name: 'after a help-desk reset (not counted) a code meets not_enrolled',
      act: async () => {
        assert.equal(await server.deps.mfa!.reset(DEMO_USER, { by: 'test' }), true);
        clock.advance(6 * 60_000);
        return submit('/mfa', browser.code());
      },
      status: 303,
      counts: { 'failure//not_enrolled': 1 },
    },
  ];

  let expected: Counts = {};
  for (const step of steps) {
    test(step.name, async () => {
      assert.equal(await step.act(), step.status);
      expected = add(expected, step.counts);
      assert.deepEqual(mfaCounts(await scrape(server)), expected);
    });
  }

  test('nothing secret in the metrics: no user, code, key, recovery code or client address in any label', async () => {
    const text = await scrape(server);
    for (const code of browser.recoveryCodes) secrets.add(code).add(code.replace(/-/g, ''));
    const forbidden = [...secrets, DEMO_USER, DEMO_USER.split('@')[0]!, '127.0.0.1'];
    const labelValues = [...text.matchAll(/^\w+\{([^}]*)\}/gm)].flatMap((m) => Object.values(labelsOf(m[1]!)));
    assert.ok(labelValues.length > 0);
    for (const value of labelValues) {
      for (const secret of forbidden) assert.ok(!value.toLowerCase().includes(secret.toLowerCase()), `a label carries ${secret}: ${value}`);
    }
    // The long ones cannot occur anywhere by chance (six digits can, in a byte count).
    for (const secret of [browser.secret, DEMO_USER, ...browser.recoveryCodes]) assert.ok(!text.includes(secret), `the metrics text carries ${secret}`);
  });

  test('a farm adds the counts of its workers, as the primary aggregates them', async () => {
    // A second server stands for a second worker: its own registry, its own MFA flow.
    const other = await startTestServer({ management: { port: 0 } }, { clock });
    try {
      const second = new MfaBrowser(other, clock);
      await second.signInAndOpenEnrolment();
      assert.equal(await second.post('/mfa/enrol', second.code()), 200);
      next();
      assert.equal(await second.post('/mfa', second.wrongCode()), 400);
      assert.deepEqual(mfaCounts(await scrape(other)), { 'enrolled/totp/': 1, 'failure//wrong_code': 1 });

      // As cluster/primary.ts does with the workers' getMetricsAsJSON() answers.
      const workers = await Promise.all([server, other].map((s) => s.metrics.registry.getMetricsAsJSON()));
      const aggregated = await AggregatorRegistry.aggregate(workers).metrics();
      assert.deepEqual(mfaCounts(aggregated), add(expected, { 'enrolled/totp/': 1, 'failure//wrong_code': 1 }));
    } finally {
      await other.stop();
    }
  });
});
