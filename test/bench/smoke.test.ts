/**
 * `npm run bench` end to end, kept working: a short run (--quick, 1 s phases) must build, start Redis,
 * OpenFed and the floor server, validate its sampled tokens with the independent validators, measure
 * sign-ins against the Samba DC, and write a report with every measure issue #7 asks for. No figure is
 * judged: speed lives in the bench, never in a timed test.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ownCpus, parseCpuList, processTree } from '../../scripts/bench/cpu.js';
import { AD_DIR, dcPid } from '../../scripts/bench/processes.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'scripts/bench/main.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

test('npm run bench -- --quick: every phase runs, the sampled tokens validate, the report has every measure', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-bench-smoke-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const report = join(dir, 'BENCHMARKS.md');
  const { code, output } = await runBench(['--quick', '--duration', '1', '--sessions', '10', '--output', report]);
  assert.equal(code, 0, output.slice(-3000));
  assert.match(output, /first tokens validate \(node-saml, xmlsec1\); tampered copies are refused/);

  const md = readFileSync(report, 'utf8');
  const row = (measure: string) => md.split('\n').find((line) => line.startsWith(`| ${measure} `));
  for (const protocol of ['SAML 2.0', 'WS-Fed']) {
    for (const connections of [16, 64]) {
      assert.match(row(`${protocol} efficiency @${connections}`) ?? '', /\| \d\.\d\d \([\d,]+ tokens\/s; \d+ % of the floor\)/, `${protocol} @${connections}`);
      assert.match(row(`${protocol} errors @${connections}`) ?? '', /\| 0 +\| 0 +\| met/, 'no bad response, no socket error');
    }
  }
  assert.match(row('metadata GET/s @64') ?? '', /\| [\d,]+ /);
  assert.match(row('password sign-ins ÷ DC binds (wall clock)') ?? '', /\| \d+ % \([\d.]+\/s vs [\d.]+ binds\/s; (DC on CPU \d+, OpenFed and the load generator on CPU [\d,]+|all on the same \d+ cores \(.*\))\)/);
  assert.match(row('password sign-ins ÷ DC binds (DC CPU)') ?? '', /\| \d+ % \([\d.]+ ms vs [\d.]+ ms of DC CPU\)/);
  assert.match(row('Redis per SSO session') ?? '', /\| \d+ B /);
  assert.match(row('RSS per OpenFed process under load') ?? '', /\| \d+ MB /);
  assert.match(md, /\| floor: bare node:http \+ 1 signature @16 /);
  assert.match(md, /Ceiling on this machine: a bare node:http server signing once per response reaches efficiency/);
  assert.doesNotMatch(md, /The run broke/);

  // The sign-in phase puts the DC on a CPU of its own; a DC the suite shares must get all of them back.
  const dc = dcPid(AD_DIR);
  const cpus = ownCpus();
  if (dc !== undefined && cpus !== undefined) {
    for (const { pid } of processTree(dc)) {
      const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
      assert.deepEqual(parseCpuList(out.slice(out.lastIndexOf(':') + 1)), cpus, `CPUs of DC process ${pid}`);
    }
  }
});
