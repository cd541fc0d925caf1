/** Cluster workers get a bounded old generation unless the operator chose one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WORKER_MAX_OLD_SPACE_MB, workerExecArgv } from '../../src/cluster/primary.js';

test('workers get --max-old-space-size by default, after the primary\'s own flags', () => {
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], undefined), ['--enable-source-maps', `--max-old-space-size=${WORKER_MAX_OLD_SPACE_MB}`]);
  assert.deepEqual(workerExecArgv([], '--enable-source-maps'), [`--max-old-space-size=${WORKER_MAX_OLD_SPACE_MB}`]);
});

test('an operator\'s own limit wins, on the command line or in NODE_OPTIONS, in either spelling', () => {
  assert.deepEqual(workerExecArgv(['--max-old-space-size=512'], undefined), ['--max-old-space-size=512']);
  assert.deepEqual(workerExecArgv([], '--trace-warnings --max_old_space_size=2048'), []);
  assert.deepEqual(workerExecArgv(['--max-old-space-size-x=1'], ''), ['--max-old-space-size-x=1', `--max-old-space-size=${WORKER_MAX_OLD_SPACE_MB}`]);
});
