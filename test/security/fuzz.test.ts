/**
 * Seeded, bounded fuzzing of the request parsers: a few hundred mutations of valid AuthnRequests
 * (Redirect and POST), LogoutRequests and wsignin1.0 parameter sets, over HTTP and by calling the
 * parsers directly. Every HTTP answer is below 500 and arrives within a timeout; direct calls throw
 * only OpenFedError subclasses; /healthz answers afterwards. Deterministic: change SEED to explore.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { OpenFedError, ProtocolError } from '../../src/errors.js';
import { readSignInRequest } from '../../src/protocols/wsfed/idp.js';
import { XmlError } from '../../src/xml/errors.js';
import { authnRequestXml, logoutRequestXml, mutateSome, prng } from '../helpers/hostile.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SEED = Number(process.env.OPENFED_FUZZ_SEED ?? 0x5eed);
const IDP_SSO = 'http://127.0.0.1/adfs/ls/';
const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const REALM = 'urn:app:wsfed';
const REPLY = 'https://rp.example.test/wsfed';
const PER_REQUEST_MS = 5000;

type Binding = 'redirect' | 'post';
interface Outcome {
  status: number;
  ms: number;
  /** For a 500: what SamlIdp.receive throws for the same input when called directly. */
  directCause?: string;
}

describe('seeded fuzzing of the request parsers', { timeout: 50_000 }, () => {
  let server: TestServer;
  const outcomes: Array<Outcome & { what: string }> = [];

  before(async () => {
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [{ entityId: SP, assertionConsumerServices: [{ url: ACS, binding: 'post', index: 0, isDefault: true }], allowUnsignedLogout: true }],
      wsfedRelyingParties: [{ realm: REALM, replyUrls: [REPLY] }],
      lockout: { perAddress: { attempts: 0 } },
    });
  });
  after(() => server?.stop());

  const encode = (xml: string, binding: Binding) =>
    binding === 'redirect' ? deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64') : Buffer.from(xml, 'utf8').toString('base64');

  /** The cause of a 500, found by feeding the same message to the parser directly. */
  async function directCause(message: string, binding: Binding, rawQuery: string | undefined): Promise<string> {
    try {
      await server.deps.saml.receive({ binding, message, param: 'SAMLRequest', rawQuery });
      return 'no error when called directly';
    } catch (err) {
      return err instanceof XmlError ? `XmlError:${err.code}` : err instanceof OpenFedError ? `OpenFedError:${err.messageId}` : `other:${String(err)}`;
    }
  }

  async function sendSaml(xml: string, binding: Binding, what: string): Promise<void> {
    const message = encode(xml, binding);
    const rawQuery = `SAMLRequest=${encodeURIComponent(message)}`;
    const started = Date.now();
    const res =
      binding === 'redirect'
        ? await request(server.url).get(`/adfs/ls/?${rawQuery}`).timeout(PER_REQUEST_MS)
        : await request(server.url).post('/adfs/ls/').type('form').send({ SAMLRequest: message }).timeout(PER_REQUEST_MS);
    const outcome: Outcome & { what: string } = { what, status: res.status, ms: Date.now() - started };
    if (res.status >= 500) outcome.directCause = await directCause(message, binding, binding === 'redirect' ? rawQuery : undefined);
    assert.doesNotMatch(res.text, /\n\s+at [^\n]+\(|node_modules/, `${what}: no stack trace`);
    outcomes.push(outcome);
  }

  test('mutated AuthnRequests and LogoutRequests over both bindings: each answered within the timeout', async () => {
    const rand = prng(SEED);
    const seeds: Array<[string, () => string]> = [
      ['AuthnRequest', () => authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS })],
      ['LogoutRequest', () => logoutRequestXml({ issuer: SP, destination: IDP_SSO })],
    ];
    for (let i = 0; i < 360; i++) {
      const [kind, make] = seeds[i % 3 === 2 ? 1 : 0]!;
      const binding: Binding = i % 2 === 0 ? 'redirect' : 'post';
      await sendSaml(mutateSome(make(), rand), binding, `#${i} ${kind} ${binding}`);
    }
    assert.equal(outcomes.length, 360);
    assert.ok(outcomes.every((o) => o.ms < PER_REQUEST_MS));
    assert.equal((await request(server.url).get('/healthz').timeout(PER_REQUEST_MS)).status, 200);
  });

  test('mutated encodings (base64/deflate level) are answered below 500', async () => {
    const rand = prng(SEED + 1);
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) {
      const binding: Binding = i % 2 === 0 ? 'redirect' : 'post';
      const message = mutateSome(encode(authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS }), binding), rand);
      const res =
        binding === 'redirect'
          ? await request(server.url).get(`/adfs/ls/?SAMLRequest=${encodeURIComponent(message)}`).timeout(PER_REQUEST_MS)
          : await request(server.url).post('/adfs/ls/').type('form').send({ SAMLRequest: message }).timeout(PER_REQUEST_MS);
      statuses.push(res.status);
    }
    assert.deepEqual(statuses.filter((s) => s >= 500), []);
  });

  test('every answer to the XML mutations is below 500', () => {
    const fiveHundreds = outcomes.filter((o) => o.status >= 500);
    assert.deepEqual(fiveHundreds.map((o) => `${o.what} → ${o.status} (${o.directCause})`), []);
  });

  test('mutated wsignin1.0 parameter sets over HTTP: below 500, within the timeout', async () => {
    const rand = prng(SEED + 2);
    const base: Record<string, string> = { wa: 'wsignin1.0', wtrealm: REALM, wreply: REPLY, wctx: 'rm=0&id=passive&ru=%2f', wfresh: '5', username: 'demo@openfed.test' };
    const names = Object.keys(base);
    const bad: string[] = [];
    for (let i = 0; i < 200; i++) {
      const params: Record<string, string> = { ...base };
      for (let k = 0, n = 1 + Math.floor(rand() * 3); k < n; k++) {
        const name = names[Math.floor(rand() * names.length)]!;
        if (rand() < 0.15) delete params[name];
        else params[name] = mutateSome(params[name] ?? '', rand);
      }
      const query = new URLSearchParams(params).toString();
      const res =
        i % 2 === 0
          ? await request(server.url).get(`/adfs/ls/?${query}`).timeout(PER_REQUEST_MS)
          : await request(server.url).post('/adfs/ls/').type('form').send(query).timeout(PER_REQUEST_MS);
      if (res.status >= 500) bad.push(`${query.slice(0, 200)} → ${res.status}`);
    }
    assert.deepEqual(bad, []);
    assert.equal((await request(server.url).get('/healthz').timeout(PER_REQUEST_MS)).status, 200);
  });

  test('readSignInRequest called directly throws only ProtocolError (OpenFedError) on mutated parameters', () => {
    const rand = prng(SEED + 3);
    const base: Record<string, unknown> = { wtrealm: REALM, wreply: REPLY, wctx: 'x', wfresh: '10', username: 'u' };
    const shapes = [(s: string): unknown => s, (s: string): unknown => [s, s], (): unknown => undefined, (s: string): unknown => ({ s }), (): unknown => 42];
    for (let i = 0; i < 500; i++) {
      const params: Record<string, unknown> = { ...base };
      for (const name of Object.keys(base)) {
        if (rand() < 0.4) params[name] = shapes[Math.floor(rand() * shapes.length)]!(mutateSome(String(base[name]), rand));
      }
      try {
        const parsed = readSignInRequest(params);
        assert.equal(typeof parsed.realm, 'string');
        assert.ok(parsed.wfresh === undefined || Number.isSafeInteger(parsed.wfresh) || Number.isFinite(parsed.wfresh));
      } catch (err) {
        assert.ok(err instanceof OpenFedError, `#${i}: ${String(err)} for ${JSON.stringify(params).slice(0, 200)}`);
      }
    }
  });

  test('SamlIdp.receive called directly throws only OpenFedError subclasses', async () => {
    const rand = prng(SEED + 4);
    const others: string[] = [];
    for (let i = 0; i < 200; i++) {
      const binding: Binding = i % 2 === 0 ? 'redirect' : 'post';
      const xml = mutateSome(i % 3 === 0 ? logoutRequestXml({ issuer: SP, destination: IDP_SSO }) : authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS }), rand);
      const message = encode(xml, binding);
      try {
        await server.deps.saml.receive({ binding, message, param: 'SAMLRequest', rawQuery: binding === 'redirect' ? `SAMLRequest=${encodeURIComponent(message)}` : undefined });
      } catch (err) {
        if (!(err instanceof ProtocolError)) others.push(`#${i}: ${err instanceof XmlError ? `XmlError:${err.code}` : String(err)}`);
      }
    }
    assert.deepEqual(others, []);
  });

  test('SamlIdp.receive called directly: nothing but OpenFedError or the known XmlError class', async () => {
    const rand = prng(SEED + 4);
    for (let i = 0; i < 200; i++) {
      const binding: Binding = i % 2 === 0 ? 'redirect' : 'post';
      const xml = mutateSome(i % 3 === 0 ? logoutRequestXml({ issuer: SP, destination: IDP_SSO }) : authnRequestXml({ issuer: SP, destination: IDP_SSO, acsUrl: ACS }), rand);
      const message = encode(xml, binding);
      try {
        await server.deps.saml.receive({ binding, message, param: 'SAMLRequest', rawQuery: binding === 'redirect' ? `SAMLRequest=${encodeURIComponent(message)}` : undefined });
      } catch (err) {
        assert.ok(err instanceof OpenFedError || err instanceof XmlError, `#${i}: unexpected ${String(err)}`);
      }
    }
    assert.equal((await request(server.url).get('/healthz').timeout(PER_REQUEST_MS)).status, 200);
  });
});
