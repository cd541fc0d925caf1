/**
 * The HTTP-POST binding page is built as a string (no template engine): every value must come back
 * out of the browser's form exactly as it went in, and none can end its attribute or the element.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, postBindingPage } from '../../src/web/passive/post-binding.js';
import { readPostForm } from '../helpers/saml.js';

const HOSTILE = [`"><script>alert(1)</script>`, `' onfocus='x`, 'a&amp;b', 'Ünïcødé – ✓', 'line1\r\nline2', '&#34;', ''];

test('field names, values and the action survive escaping byte for byte', () => {
  for (const value of HOSTILE) {
    const page = postBindingPage({ title: 'Signing in', serviceName: 'idp.example.test', action: `https://sp.example.test/acs?a=1&b=${value}`, fields: { SAMLResponse: 'PHNhbWw+', RelayState: value } });
    const form = readPostForm(page);
    assert.deepEqual(form.fields, { SAMLResponse: 'PHNhbWw+', RelayState: value }, JSON.stringify(value));
    assert.equal(form.action, `https://sp.example.test/acs?a=1&b=${value}`);
    assert.equal(page.match(/<script/g)?.length, 1, 'only our own script element');
  }
});

test('title, service name and cleanup URLs are escaped too', () => {
  const page = postBindingPage({
    title: '<b>out</b>',
    serviceName: 'idp"x',
    action: 'https://sp.example.test/slo',
    fields: { SAMLRequest: 'abc' },
    cleanup: ['https://rp.example.test/?wa=wsignoutcleanup1.0&x="><img src=y>'],
  });
  assert.ok(page.includes('<title>&lt;b&gt;out&lt;/b&gt; &#8211; idp&#34;x</title>'));
  assert.ok(page.includes('<p class="brand"><span>idp&#34;x</span></p>'));
  assert.ok(page.includes('src="https://rp.example.test/?wa=wsignoutcleanup1.0&amp;x=&#34;&gt;&lt;img src=y&gt;"'));
  assert.equal(page.match(/<img /g)?.length, 1);
});

test('escapeHtml replaces the five characters that matter, and writes anything beyond ASCII as a character reference', () => {
  assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&#34;&#39;');
  assert.equal(escapeHtml('plain\r\n'), 'plain\r\n');
  assert.equal(escapeHtml('é ✓ 🙂'), '&#233; &#10003; &#128578;', 'a surrogate pair is one character');
});

test('the page is ASCII whatever it carries, and every value still comes back as it went in', () => {
  const relayState = 'Ünïcødé – ✓ 🙂 日本';
  const page = postBindingPage({ title: 'Signing you out…', serviceName: 'sts.exämple.test', action: 'https://sp.example.test/acs', fields: { SAMLResponse: 'PHNhbWw+', RelayState: relayState } });
  assert.match(page, /^[\x00-\x7F]*$/);
  assert.equal(readPostForm(page).fields.RelayState, relayState);
});
