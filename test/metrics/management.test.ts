/**
 * The management listener: Prometheus metrics counted from real sign-ins and tokens, and the probes,
 * on a port of their own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { craftAuthnRequest, redirectQuery } from '../helpers/saml.js';
import { csrfFrom, startTestServer } from '../helpers/server.js';

test('metrics count sign-ins by outcome, tokens by protocol and RP, refusals; probes answer; users cannot reach them', async () => {
  const server = await startTestServer({
    server: { baseUrl: 'http://127.0.0.1' },
    management: { port: 0 },
    relyingParties: [{ entityId: 'https://sp.example.test', assertionConsumerServices: [{ url: 'https://sp.example.test/acs' }] }],
  });
  try {
    assert.ok(server.managementUrl && server.managementUrl !== server.url);
    const agent = request.agent(server.url);
    let form = await agent.get('/signin');
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: 'wrong-one' }).expect(401);
    form = await agent.get('/signin');
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: 'https://sp.example.test' }).xml)}`).expect(200);
    await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: 'https://evil.example' }).xml)}`).expect(400);

    const metrics = await request(server.managementUrl!).get('/metrics').expect(200);
    assert.match(metrics.headers['content-type'] ?? '', /text\/plain/);
    assert.match(metrics.text, /^openfed_signins_total\{outcome="failure",reason="invalid_credentials"\} 1$/m);
    assert.match(metrics.text, /^openfed_signins_total\{outcome="success",reason=""\} 1$/m);
    assert.match(metrics.text, /^openfed_tokens_issued_total\{protocol="saml2",rp="https:\/\/sp\.example\.test"\} 1$/m);
    assert.match(metrics.text, /^openfed_requests_refused_total\{protocol="saml2",reason="saml_unknown_relying_party"\} 1$/m);
    const days = Number(/^openfed_signing_certificate_expiry_days ([\d.]+)$/m.exec(metrics.text)?.[1]);
    assert.ok(days > 364 && days < 366, `${days}`);
    assert.match(metrics.text, /^openfed_process_resident_memory_bytes \d+/m);

    await request(server.managementUrl!).get('/healthz').expect(200);
    await request(server.managementUrl!).get('/readyz').expect(200);
    await request(server.url).get('/metrics').expect(404);
  } finally {
    await server.stop();
  }
});
