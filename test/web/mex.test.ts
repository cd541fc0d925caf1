/**
 * The MEX front door's HTTP side, on Node's own server: AD FS's media type, the precomputed document
 * for the configured baseUrl (never the Host header), HEAD, and caching with ETag / 304.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { buildMex } from '../../src/protocols/wstrust/mex.js';
import { MEX_CONTENT_TYPE, mexDocument } from '../../src/web/handlers/mex.js';

const BASE_URL = 'https://sts.contoso.test';

describe('mexDocument', () => {
  let server: Server;
  let url: string;

  before(async () => {
    server = createServer(mexDocument({ config: parseConfig({ server: { baseUrl: BASE_URL } }) }, () => false));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/adfs/services/trust/mex`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('GET: the document for baseUrl, as application/soap+xml, cacheable', async () => {
    const res = await fetch(url, { headers: { Host: 'evil.test' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MEX_CONTENT_TYPE);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=3600');
    const body = await res.text();
    assert.equal(body, buildMex({ baseUrl: BASE_URL }));
    assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(body));
    assert.doesNotMatch(body, /evil\.test|127\.0\.0\.1/);
  });

  test('HEAD: the headers without the body', async () => {
    const res = await fetch(url, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MEX_CONTENT_TYPE);
    assert.equal(await res.text(), '');
  });

  test('a matching If-None-Match gets 304 with no body; another ETag the document', async () => {
    const etag = (await fetch(url)).headers.get('etag');
    assert.match(etag ?? '', /^"[\w-]{43}"$/);
    const cached = await fetch(url, { headers: { 'If-None-Match': etag! } });
    assert.equal(cached.status, 304);
    assert.equal(await cached.text(), '');
    const stale = await fetch(url, { headers: { 'If-None-Match': '"older"' } });
    assert.equal(stale.status, 200);
  });
});

describe('mexDocument with Windows Integrated Authentication', () => {
  let server: Server;
  let url: string;
  let intranet = false;

  before(async () => {
    const windows = { offeredTo: () => false, offersTransport: () => intranet, signIns: undefined as never };
    server = createServer(mexDocument({ config: parseConfig({ server: { baseUrl: BASE_URL } }), windows }, () => false));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/adfs/services/trust/mex`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('intranet clients also see windowstransport; others do not; neither is shared-cacheable', async () => {
    intranet = true;
    const inside = await fetch(url);
    assert.equal(inside.headers.get('cache-control'), 'private, max-age=3600');
    const insideBody = await inside.text();
    assert.match(insideBody, /\/adfs\/services\/trust\/13\/windowstransport</);
    assert.match(insideBody, /NegotiateAuthentication/);
    intranet = false;
    const outside = await fetch(url);
    const outsideBody = await outside.text();
    assert.equal(outsideBody, buildMex({ baseUrl: BASE_URL }));
    assert.doesNotMatch(outsideBody, /windowstransport/);
    assert.notEqual(inside.headers.get('etag'), outside.headers.get('etag'));
  });
});
