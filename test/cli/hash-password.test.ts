import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { verifyPassword } from '../../src/directory/demo.js';

const openfed = (args: string[], input: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { input, encoding: 'utf8', timeout: 30_000 });

test('openfed hash-password prints a scrypt hash that verifies, and never the password', async () => {
  const result = openfed(['hash-password'], 'Tr0ub4dor&3 ü\n');
  assert.equal(result.status, 0, result.stderr);
  const hash = result.stdout.trim();
  assert.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.ok(await verifyPassword('Tr0ub4dor&3 ü', hash));
  assert.ok(!(await verifyPassword('Tr0ub4dor&3', hash)));
  assert.ok(!result.stdout.includes('Tr0ub4dor') && !result.stderr.includes('Tr0ub4dor'));

  const json = openfed(['hash-password', '--json'], 'x\n');
  assert.match(JSON.parse(json.stdout).passwordHash, /^scrypt\$/);
});

test('openfed hash-password refuses an empty password and unknown commands, without a stack trace', () => {
  const empty = openfed(['hash-password'], '\n');
  assert.equal(empty.status, 1);
  assert.equal(empty.stderr.trim(), 'openfed: an empty password cannot be used');
  const none = openfed(['hash-password'], '');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no password given/);
  const unknown = openfed(['frobnicate'], '');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.doesNotMatch(empty.stderr + none.stderr + unknown.stderr, /\n\s+at /);
});
