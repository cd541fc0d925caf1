import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { updateReadme } from '../../scripts/config-docs.js';

test('README.md carries the configuration reference generated from the schema (npm run docs:config)', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.equal(readme, updateReadme(readme));
});
