/**
 * The pure parts of `npm run bench` (scripts/bench/): /proc parsing, CPU accounting, the efficiency
 * ratio and the target verdicts, the floor (ceiling) figures, the token-page reader and the AuthnRequest generator. The bench
 * itself is not run here: its numbers are measurements, not assertions.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { cpuSecondsBetween, parseCpuList, parseProcStat, parseVmRssBytes, treeOf } from '../../scripts/bench/cpu.js';
import { floorWorkerCount } from '../../scripts/bench/floor.js';
import { separateDc } from '../../scripts/bench/phases.js';
import { problemsIn, stopAll, undoOnExit } from '../../scripts/bench/processes.js';
import { hotFunctions } from '../../scripts/bench/profile.js';
import { dataMemory, infoField } from '../../scripts/bench/redis-memory.js';
import {
  ceilingNote,
  dcCapacityShare,
  efficiency,
  efficiencyResult,
  floorScenario,
  markdownTable,
  meets,
  perUnitMs,
  renderMarkdown,
  row,
  shareOfFloor,
  TARGETS,
  type ScenarioLine,
} from '../../scripts/bench/report.js';
import { cookiePairs, csrfTokenOf } from '../../scripts/bench/signin.js';
import { assertionOf, looksLikeToken, readPostForm, Reservoir, RSA_SHA256, samlRequestFactory, wsfedQuery } from '../../scripts/bench/tokens.js';

describe('/proc parsing', () => {
  test('a stat line whose command name holds spaces and parentheses', () => {
    const line = '4242 (node (worker) 1) S 4200 4242 4242 0 -1 4194560 1234 0 0 0 731 129 0 0 20 0 11 0 5000 1000000 20000';
    assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 4200, ticks: 731 + 129 });
  });

  test('this process, read from the real /proc', () => {
    const stat = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.equal(stat.pid, process.pid);
    assert.equal(stat.ppid, process.ppid);
    assert.ok(stat.ticks >= 0);
  });

  test('a line that is not a stat line is refused', () => {
    assert.throws(() => parseProcStat('hello world'), /not a \/proc stat line/);
    assert.throws(() => parseProcStat('12 (x) S'), /unreadable/);
  });

  test('VmRSS in bytes; none for a kernel thread', () => {
    assert.equal(parseVmRssBytes('Name:\tnode\nVmPeak:\t  900 kB\nVmRSS:\t  153600 kB\nRssAnon:\t 1 kB\n'), 153600 * 1024);
    assert.equal(parseVmRssBytes('Name:\tkthreadd\nState:\tS (sleeping)\n'), undefined);
  });
});

describe('CPU lists (taskset)', () => {
  test('ranges and single CPUs, as Linux writes them; anything else is refused', () => {
    assert.deepEqual(parseCpuList('0-1'), [0, 1]);
    assert.deepEqual(parseCpuList(' 0-2,4,7-8\n'), [0, 1, 2, 4, 7, 8]);
    assert.deepEqual(parseCpuList('3'), [3]);
    for (const bad of ['', 'a', '1-', '0,,1', '0-1-2']) assert.throws(() => parseCpuList(bad), /not a CPU list/, bad);
  });
});

describe('the DC on a CPU of its own for the sign-in ratio', () => {
  const pins = () => {
    const calls: Array<{ pids: readonly number[]; cpus: readonly number[] }> = [];
    return { calls, pin: (pids: readonly number[], cpus: readonly number[]) => void calls.push({ pids, cpus }) };
  };

  test('the DC tree gets the last CPU and the bench the others; undo gives both every CPU back', () => {
    const { calls, pin } = pins();
    const cores = separateDc(process.pid, [0, 1, 2], pin);
    assert.equal(cores.layout, 'DC on CPU 2, OpenFed and the load generator on CPU 0,1');
    assert.deepEqual(calls.map((c) => c.cpus), [[2], [0, 1]]);
    assert.ok(calls[0]!.pids.includes(process.pid), 'the DC tree, read from /proc');
    assert.deepEqual(calls[1]!.pids, [process.pid]);
    cores.undo();
    assert.deepEqual(calls.slice(2).map((c) => c.cpus), [[0, 1, 2], [0, 1, 2]]);
  });

  test('the layout is undone once, whether the phase ends or the bench is stopped (Ctrl-C, a failure)', async () => {
    let undone = 0;
    const undo = undoOnExit('layout', () => void undone++);
    await stopAll();
    assert.equal(undone, 1, 'stopping the bench undoes it');
    undo();
    assert.equal(undone, 1, 'and the phase\'s own finally does not repeat it');
    const second = undoOnExit('layout', () => void undone++);
    second();
    await stopAll();
    assert.equal(undone, 2, 'undone by the phase, not again by the stop');
  });

  test('shared cores, said why, when it cannot be done: one core, no DC pid, no taskset, taskset refused', () => {
    const { calls, pin } = pins();
    assert.equal(separateDc(process.pid, [0], pin).layout, 'all on the same 1 cores (one core)');
    assert.match(separateDc(undefined, [0, 1], pin).layout, /all on the same 2 cores \(no DC pid\)/);
    assert.match(separateDc(process.pid, undefined, pin).layout, /\(no taskset\)$/);
    assert.equal(calls.length, 0, 'nothing pinned');

    const undone: Array<readonly number[]> = [];
    const refusing = (_pids: readonly number[], cpus: readonly number[]) => {
      if (cpus.length === 1) throw new Error('taskset could not set the CPUs of process 1: Operation not permitted');
      undone.push(cpus);
    };
    const cores = separateDc(process.pid, [0, 1], refusing);
    assert.equal(cores.layout, 'all on the same 2 cores (taskset refused: taskset could not set the CPUs of process 1: Operation not permitted)');
    assert.deepEqual(undone, [[0, 1], [0, 1]], 'what may have been changed is given back at once');
  });
});

describe('CPU accounting of a process tree', () => {
  const all = [
    { pid: 1, ppid: 0, ticks: 5 },
    { pid: 100, ppid: 1, ticks: 10 }, // the primary
    { pid: 101, ppid: 100, ticks: 200 }, // workers
    { pid: 102, ppid: 100, ticks: 300 },
    { pid: 103, ppid: 101, ticks: 7 }, // a grandchild
    { pid: 200, ppid: 1, ticks: 999 }, // someone else's process
  ];

  test('the root and all its descendants, nothing else', () => {
    assert.deepEqual(treeOf(100, all).map((s) => s.pid).sort(), [100, 101, 102, 103]);
    assert.deepEqual(treeOf(999, all), []);
  });

  test('seconds used between snapshots; new processes count from zero; vanished ones are named', () => {
    const before = { ticks: new Map([[100, 10], [101, 200], [102, 300]]) };
    const after = { ticks: new Map([[100, 15], [101, 450], [103, 20]]) };
    const { seconds, vanished } = cpuSecondsBetween(before, after, 100);
    assert.equal(seconds, (5 + 250 + 20) / 100);
    assert.deepEqual(vanished, [102]);
  });
});

describe('efficiency and targets', () => {
  test('tokens per CPU-second over raw signatures per core-second', () => {
    // 9,000 tokens in 10 CPU-seconds is 900 per CPU-s; against 1,000 raw signatures per core-s: 0.9
    assert.equal(efficiency(9000, 10, 1000), 0.9);
    assert.equal(efficiency(100, 0, 1000), 0, 'no CPU measured is no ratio, not Infinity');
    assert.equal(efficiency(100, 1, 0), 0);
  });

  test('verdicts in both directions, at the limit and beside it', () => {
    assert.equal(meets(0.8, TARGETS.efficiency), true);
    assert.equal(meets(0.79, TARGETS.efficiency), false);
    assert.equal(meets(25, TARGETS.p99At16), true);
    assert.equal(meets(25.5, TARGETS.p99At16), false);
    assert.equal(meets(1024, TARGETS.redisBytesPerSession), true);
    assert.equal(meets(1025, TARGETS.redisBytesPerSession), false);
    assert.equal(meets(1, TARGETS.errors), false);
  });

  test('a figure not measured has no verdict', () => {
    assert.equal(row('x', undefined, 'not measured', TARGETS.metadataPerSecond).met, undefined);
    assert.equal(row('x', Number.NaN, '?', TARGETS.metadataPerSecond).met, undefined);
    assert.equal(row('x', 12_000, '12,000', TARGETS.metadataPerSecond).met, true);
  });

  test('DC capacity: sign-ins per DC CPU-second over binds per DC CPU-second', () => {
    // 1,000 sign-ins took the DC 10 CPU-s (10 ms each); 2,000 binds took it 16 CPU-s (8 ms each): 80 %.
    assert.equal(dcCapacityShare(1000, 10, 2000, 16), 0.8);
    assert.equal(dcCapacityShare(1000, 0, 2000, 16), 0, 'no DC CPU measured is no ratio');
    assert.equal(dcCapacityShare(0, 10, 2000, 16), 0);
    assert.equal(perUnitMs(2.5, 1000), '2.5 ms');
    assert.equal(perUnitMs(1, 0), '–');
  });

  test('markdown table: padded columns, one separator row', () => {
    assert.equal(markdownTable(['a', 'bb'], [['ccc', 'd']]), '| a   | bb |\n|-----|----|\n| ccc | d  |');
  });
});

describe('the floor: a bare node:http server signing once per response', () => {
  const line = (scenario: string, connections: number, perSecond: number, eff?: number): ScenarioLine => ({
    scenario,
    connections,
    perSecond,
    p50: 5,
    p99: 20,
    bad: 0,
    cpuSeconds: 10,
    seconds: 5,
    perCpuSecond: perSecond / 2,
    ...(eff !== undefined ? { rawRate: 1000, efficiency: eff } : {}),
  });

  test("OpenFed's efficiency as a share of the floor's; none without both", () => {
    assert.equal(shareOfFloor(0.45, 0.75), 0.6);
    assert.equal(shareOfFloor(0.45, undefined), undefined);
    assert.equal(shareOfFloor(undefined, 0.75), undefined);
    assert.equal(shareOfFloor(0.45, 0), undefined, 'a broken floor is no ratio, not Infinity');
  });

  test('the efficiency cell says how much of the floor OpenFed reaches, when the floor ran', () => {
    const saml = line('SAML 2.0 @16', 16, 1900.4, 0.45);
    assert.equal(efficiencyResult(saml, line(floorScenario(16), 16, 4000, 0.726)), '0.45 (1,900 tokens/s; 62 % of the floor)');
    assert.equal(efficiencyResult(saml), '0.45 (1,900 tokens/s)', '--no-floor');
    assert.equal(efficiencyResult(line('SAML 2.0 @16', 16, 3000, 0.8), line(floorScenario(16), 16, 3000, 0.76)), '0.80 (3,000 tokens/s; 105 % of the floor)', 'noise may put OpenFed above it');
  });

  test('the ceiling note names each concurrency; none when the floor did not run', () => {
    const note = ceilingNote([line(floorScenario(16), 16, 4100, 0.741), line(floorScenario(64), 64, 3900, 0.7)]);
    assert.match(note ?? '', /^Ceiling on this machine: a bare node:http server signing once per response reaches efficiency 0\.74 @16 \/ 0\.70 @64 \(4,100\/s @16, 3,900\/s @64;/);
    assert.equal(ceilingNote([]), undefined);
    assert.equal(floorScenario(64), 'floor: bare node:http + 1 signature @64');
  });

  test("the floor server runs as many workers as OpenFed serves with", () => {
    assert.equal(floorWorkerCount('auto', 2), 2);
    assert.equal(floorWorkerCount('auto', 0), 1);
    assert.equal(floorWorkerCount(3, 2), 3);
    assert.equal(floorWorkerCount(undefined, 8), 1, 'a build without cluster mode is one process');
  });

  test('the markdown explains the floor rows', () => {
    const md = renderMarkdown({
      machine: { date: 'd', cpuModel: 'cpu', cores: 2, node: 'v20', loadAverage: [0, 0, 0], memoryGiB: 4 },
      mode: 'quick',
      workers: 'server.workers auto',
      rows: [],
      scenarios: [],
      notes: [],
      failures: [],
    });
    assert.match(md, /\*\*floor\*\* rows: a bare `node:http` server/);
  });
});

describe('token pages', () => {
  const page = (fields: string) =>
    `<html><body><form method="post" action="https://sp.example.test/acs?a=1&amp;b=2" id="post-binding">${fields}<button>Continue</button></form></body></html>`;

  test('the fields of the auto-POST form, HTML entities undone', () => {
    const html = page('<input type="hidden" name="SAMLResponse" value="PHg+&#34;&amp;"><input type="hidden" name="RelayState" value="r&lt;1">');
    assert.deepEqual(readPostForm(html), { action: 'https://sp.example.test/acs?a=1&b=2', fields: { SAMLResponse: 'PHg+"&', RelayState: 'r<1' } });
    assert.equal(looksLikeToken(html, 'SAMLResponse'), true);
    assert.equal(looksLikeToken(html, 'wresult'), false);
  });

  test('the sign-in page is not a token', () => {
    const signIn = '<form method="post" action="/signin"><input type="hidden" name="_csrf" value="abc"><input name="username"></form>';
    assert.equal(readPostForm(signIn), undefined);
    assert.equal(looksLikeToken(signIn, 'SAMLResponse'), false);
    assert.equal(csrfTokenOf(signIn), 'abc');
  });

  test('the SAML 1.1 assertion inside an RSTR', () => {
    const a = '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" AssertionID="_1"><x/></saml:Assertion>';
    assert.equal(assertionOf(`<t:RequestSecurityTokenResponse><t:RequestedSecurityToken>${a}</t:RequestedSecurityToken></t:RequestSecurityTokenResponse>`), a);
    assert.equal(assertionOf('<t:RequestSecurityTokenResponse/>'), undefined);
  });

  test('Set-Cookie headers become one Cookie header', () => {
    assert.equal(cookiePairs(['openfed_csrf=abc; Path=/; HttpOnly; SameSite=Strict', 'openfed_sso=xyz; Path=/']), 'openfed_csrf=abc; openfed_sso=xyz');
  });
});

describe('what the bench sends', () => {
  test('every AuthnRequest has its own ID, remembered for the InResponseTo check', () => {
    const factory = samlRequestFactory({ idpSsoUrl: 'http://127.0.0.1:8080/adfs/ls/', spEntityId: 'urn:sp' });
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const path = factory.next();
      assert.ok(path.startsWith('/adfs/ls/?SAMLRequest='));
      const xml = inflateRawSync(Buffer.from(decodeURIComponent(new URL(path, 'http://x').searchParams.get('SAMLRequest') ?? ''), 'base64')).toString();
      const id = /\sID="([^"]+)"/.exec(xml)?.[1];
      assert.ok(id && factory.ids.has(id));
      assert.match(xml, /Destination="http:\/\/127\.0\.0\.1:8080\/adfs\/ls\/"/);
      assert.match(xml, /<saml:Issuer>urn:sp<\/saml:Issuer>/);
      ids.add(id);
    }
    assert.equal(ids.size, 50);
    assert.equal(factory.ids.size, 50);
  });

  test('requests prepared ahead are handed out first, each once, then fresh ones are made', () => {
    const factory = samlRequestFactory({ idpSsoUrl: 'http://127.0.0.1:8080/adfs/ls/', spEntityId: 'urn:sp' });
    factory.prepare(3);
    assert.equal(factory.ids.size, 3, 'made (and remembered) ahead');
    const paths = Array.from({ length: 5 }, () => factory.next());
    assert.equal(new Set(paths).size, 5);
    assert.equal(factory.ids.size, 5, 'two more made on the fly');
  });

  test('a signed Redirect query verifies with the SP key over SAMLRequest and SigAlg as sent', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const path = samlRequestFactory({ idpSsoUrl: 'http://127.0.0.1:1/adfs/ls/', spEntityId: 'urn:sp', signingKey: privateKey }).next();
    const query = path.slice(path.indexOf('?') + 1);
    const signed = query.slice(0, query.indexOf('&Signature='));
    assert.ok(signed.endsWith(`&SigAlg=${encodeURIComponent(RSA_SHA256)}`));
    const signature = Buffer.from(decodeURIComponent(query.slice(query.indexOf('&Signature=') + '&Signature='.length)), 'base64');
    assert.equal(verify('sha256', Buffer.from(signed), publicKey, signature), true);
    assert.equal(verify('sha256', Buffer.from(signed.replace('SAMLRequest=', 'SAMLRequest=x')), publicKey, signature), false);
  });

  test('WS-Fed queries differ by wctx and carry the realm encoded', () => {
    assert.equal(wsfedQuery('/adfs/ls/', 'urn:app:a b', 7), '/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Aapp%3Aa%20b&wctx=bench-7');
  });
});

describe('sampling and Redis INFO', () => {
  test('the reservoir keeps at most its size, every item once, and replaces with the given chance', () => {
    let next = 0;
    const draws = [0.0, 0.99, 0.5];
    const r = new Reservoir<number>(2, () => draws[next++]!);
    for (const n of [1, 2, 3, 4, 5]) r.offer(n);
    // 3rd item: j = floor(0.0*3) = 0 → replaces slot 0; 4th: floor(0.99*4) = 3 → kept out; 5th: floor(0.5*5) = 2 → kept out
    assert.deepEqual(r.items, [3, 2]);
    const empty = new Reservoir<number>(0);
    empty.offer(1);
    assert.deepEqual(empty.items, []);
  });

  test('stored-data memory out of INFO memory: used_memory less replication and client buffers', () => {
    const info = '# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmem_clients_normal:4096\r\nmem_total_replication_buffers:20480\r\n';
    assert.equal(infoField(info, 'used_memory'), 1048576);
    assert.equal(infoField(info, 'used_memory_peak'), undefined);
    assert.equal(dataMemory(info), 1048576 - 4096 - 20480);
    assert.equal(dataMemory('used_memory:1000\r\n'), 1000, 'an older Redis without those fields');
    assert.throws(() => dataMemory('# Memory\r\n'), /no used_memory/);
  });
});

describe('a failed run says why', () => {
  test("OpenFed's last warnings and errors per log file, in order, info lines and other output left out", (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-logic-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const quiet = join(dir, 'quiet.log');
    const noisy = join(dir, 'noisy.log');
    writeFileSync(quiet, '{"level":30,"msg":"listening"}\nnot json, "level":50\n');
    writeFileSync(noisy, ['{"level":30,"msg":"a"}', '{"level":40,"msg":"b"}', '{"level":50,"msg":"c"}', '{"level":60,"msg":"d"}', ''].join('\n'));
    assert.equal(problemsIn([quiet], 5), '');
    assert.equal(problemsIn([quiet, noisy], 2), `${noisy}:\n{"level":50,"msg":"c"}\n{"level":60,"msg":"d"}`);
  });
});

describe('--cpu-prof summary', () => {
  test('self time per function over several process profiles, idle left out, busiest first', () => {
    const frame = (functionName: string, url: string, lineNumber: number) => ({ functionName, url, lineNumber });
    const worker1 = {
      nodes: [
        { id: 1, callFrame: frame('(root)', '', -1), hitCount: 0 },
        { id: 2, callFrame: frame('(idle)', '', -1), hitCount: 500 },
        { id: 3, callFrame: frame('sign', 'node:internal/crypto/sig', 140), hitCount: 60 },
        { id: 4, callFrame: frame('render', 'file:///work/main/node_modules/ejs/lib/ejs.js', 9), hitCount: 30 },
      ],
    };
    const worker2 = {
      nodes: [
        { id: 1, callFrame: frame('sign', 'node:internal/crypto/sig', 140), hitCount: 40 },
        { id: 2, callFrame: frame('', 'file:///work/main/dist/web/app.js', 0), hitCount: 70 },
      ],
    };
    const hot = hotFunctions([worker1, worker2], 2);
    assert.deepEqual(hot, [
      { name: 'sign', location: 'node:internal/crypto/sig:141', share: 100 / 200 },
      { name: '(anonymous)', location: 'dist/web/app.js:1', share: 70 / 200 },
    ]);
    assert.equal(hotFunctions([worker1], 5).find((f) => f.name === 'render')?.location, 'ejs/lib/ejs.js:10');
    assert.deepEqual(hotFunctions([], 5), []);
  });
});
