/**
 * The metadata is answered before express (app.ts pre-router): the response must be the one express
 * would give — same headers, request id, body, 304 — and anything else still reaches express.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

const METADATA = '/FederationMetadata/2007-06/FederationMetadata.xml';
let server: TestServer;
before(async () => {
  server = await startTestServer({ server: { baseUrl: 'http://127.0.0.1' } });
});
after(() => server?.stop());

const headerNames = (r: Response) => {
  const names: string[] = [];
  r.headers.forEach((_value, name) => names.push(name));
  return names.filter((k) => k !== 'date' && k !== 'x-request-id').sort();
};

test('pre-routed metadata and the express route (trailing slash) answer alike', async () => {
  const fast = await fetch(`${server.url}${METADATA}`, { headers: { 'x-request-id': 'lb-meta.1' } });
  const viaExpress = await fetch(`${server.url}${METADATA}/`);
  assert.equal(fast.status, 200);
  assert.equal(viaExpress.status, 200);
  assert.deepEqual(headerNames(fast), headerNames(viaExpress));
  assert.equal(fast.headers.get('x-request-id'), 'lb-meta.1', 'a safe incoming id is echoed');
  assert.match(String(viaExpress.headers.get('x-request-id')), /^[0-9a-f-]{36}$/);
  assert.equal(fast.headers.get('content-security-policy'), viaExpress.headers.get('content-security-policy'));
  assert.equal(fast.headers.get('content-type'), 'application/samlmetadata+xml');
  assert.equal(await fast.text(), await viaExpress.text());
});

test('lower-case path and a query string are pre-routed too; HEAD has no body; If-None-Match gives 304', async () => {
  const lower = await fetch(`${server.url}${METADATA.toLowerCase()}?from=entra`);
  assert.equal(lower.status, 200);
  const etag = lower.headers.get('etag')!;
  assert.match(await lower.text(), /EntityDescriptor/);
  const head = await fetch(`${server.url}${METADATA}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), lower.headers.get('content-length'));
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const cached = await fetch(`${server.url}${METADATA}`, { headers: { 'if-none-match': etag } });
  assert.equal(cached.status, 304);
  assert.equal(cached.headers.get('etag'), etag);
});

test('other methods and hostile request ids still go the usual way', async () => {
  const post = await fetch(`${server.url}${METADATA}`, { method: 'POST', headers: { accept: 'application/json' } });
  assert.equal(post.status, 404);
  const hostile = await fetch(`${server.url}${METADATA}`, { headers: { 'x-request-id': '<script>' } });
  assert.match(String(hostile.headers.get('x-request-id')), /^[0-9a-f-]{36}$/);
  await hostile.arrayBuffer();
});
