/**
 * "Keep me signed in" (AD FS KMSI): off unless configured; when used, a persistent cookie for the
 * KMSI lifetime and the psso claim in Microsoft 365 tokens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { csrfFrom, startTestServer } from '../helpers/server.js';
import { readWsfedPost } from '../helpers/wsfed.js';

const LOGIN_SRF = 'https://login.microsoftonline.test/login.srf';
const ssoCookie = (res: request.Response) => ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('openfed_sso='));

test('keep me signed in: offered when enabled, a cookie that outlives the browser, and psso for Microsoft 365', async () => {
  const server = await startTestServer({
    sessions: { keepMeSignedIn: { enabled: true, lifetimeMinutes: 1440 } },
    microsoft365: { enabled: true, domains: ['openfed.test'], replyUrl: LOGIN_SRF },
  });
  try {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin').expect(200);
    assert.match(form.text, /name="kmsi" value="true"/);
    const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, kmsi: 'true' }).expect(303);
    const expires = /Expires=([^;]+)/.exec(ssoCookie(res) ?? '')?.[1];
    assert.ok(expires, 'a persistent cookie');
    const hours = (Date.parse(expires) - Date.now()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24.01, `${hours} h`);
    const token = readWsfedPost((await agent.get('/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline').expect(200)).text);
    assert.match(token.assertion, /<saml:Attribute AttributeName="psso" AttributeNamespace="http:\/\/schemas\.microsoft\.com\/2014\/03"><saml:AttributeValue>true<\/saml:AttributeValue>/);
  } finally {
    await server.stop();
  }
});

test('keep me signed in is off by default: no checkbox, and a crafted field is ignored', async () => {
  const server = await startTestServer();
  try {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin').expect(200);
    assert.doesNotMatch(form.text, /name="kmsi"/);
    const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, kmsi: 'true' }).expect(303);
    assert.doesNotMatch(ssoCookie(res) ?? '', /Expires=/, 'a browser-session cookie');
  } finally {
    await server.stop();
  }
});
