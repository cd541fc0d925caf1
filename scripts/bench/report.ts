/**
 * The numbers of one run against the targets of issue #7, as a terminal table and as BENCHMARKS.md.
 * Pure: everything here is computed from values handed in, so it is unit-tested (test/bench/).
 */

/**
 * tokens per OpenFed CPU-second ÷ raw RSA signatures per core-second: how close issuance comes to its
 * floor of one signature per token. A ratio of two CPU-time rates, so it holds on a busy machine.
 */
export function efficiency(tokens: number, openfedCpuSeconds: number, rawSignaturesPerCpuSecond: number): number {
  if (!(openfedCpuSeconds > 0) || !(rawSignaturesPerCpuSecond > 0)) return 0;
  return tokens / openfedCpuSeconds / rawSignaturesPerCpuSecond;
}

/**
 * Sign-ins per DC CPU-second ÷ binds per DC CPU-second: the share of the DC's bind capacity that
 * sign-ins through OpenFed reach when the DC is the bottleneck, as it is when OpenFed runs on its
 * own servers. Unlike the wall-clock ratio it does not count OpenFed's and the load generator's CPU
 * against the DC on a machine where all three share the cores.
 */
export function dcCapacityShare(signIns: number, dcCpuSignIns: number, binds: number, dcCpuBinds: number): number {
  if (!(signIns > 0) || !(dcCpuSignIns > 0) || !(binds > 0) || !(dcCpuBinds > 0)) return 0;
  return signIns / dcCpuSignIns / (binds / dcCpuBinds);
}

/** CPU-seconds per unit of work, in milliseconds ("–" when nothing was done). */
export function perUnitMs(cpuSeconds: number, units: number): string {
  return units > 0 ? `${((cpuSeconds * 1000) / units).toFixed(1)} ms` : '–';
}

export interface Target {
  op: '>=' | '<=';
  limit: number;
  /** how the target reads in the table, e.g. "≥ 0.8" */
  text: string;
}

export const TARGETS = {
  efficiency: { op: '>=', limit: 0.8, text: '≥ 0.8' },
  p99At16: { op: '<=', limit: 25, text: '≤ 25 ms' },
  p99At64: { op: '<=', limit: 80, text: '≤ 80 ms' },
  errors: { op: '<=', limit: 0, text: '0' },
  metadataPerSecond: { op: '>=', limit: 10_000, text: '≥ 10,000/s' },
  signInShareOfBinds: { op: '>=', limit: 0.8, text: '≥ 80 % of DC binds' },
  redisBytesPerSession: { op: '<=', limit: 1024, text: '≤ 1 KB' },
  rssBytesPerWorker: { op: '<=', limit: 150 * 1024 * 1024, text: '≤ 150 MB' },
} as const satisfies Record<string, Target>;

export function meets(value: number, target: Target): boolean {
  return target.op === '>=' ? value >= target.limit : value <= target.limit;
}

export interface Row {
  measure: string;
  result: string;
  target: string;
  /** undefined: not measured in this run (e.g. --no-ad) */
  met?: boolean;
}

export function row(measure: string, value: number | undefined, shown: string, target: Target): Row {
  return value === undefined || !Number.isFinite(value)
    ? { measure, result: shown, target: target.text }
    : { measure, result: shown, target: target.text, met: meets(value, target) };
}

// ------------------------------------------------------------------------------------ formatting

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmt1 = (n: number) => n.toFixed(1);
export const fmt2 = (n: number) => n.toFixed(2);
export const fmtMs = (n: number) => `${Number.isInteger(n) ? n : n.toFixed(1)} ms`;
export const fmtMB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
export const fmtBytes = (bytes: number) => `${fmtInt(bytes)} B`;

const metText = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');

/** A GitHub-flavoured Markdown table; the same text reads fine in a terminal. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function targetsTable(rows: readonly Row[]): string {
  return markdownTable(
    ['measure', 'result', 'target (issue #7)', 'met?'],
    rows.map((r) => [r.measure, r.result, r.target, metText(r.met)]),
  );
}

export interface ScenarioLine {
  scenario: string;
  connections: number;
  perSecond: number;
  p50: number;
  p99: number;
  bad: number;
  cpuSeconds: number;
  seconds: number;
  /** units per OpenFed CPU-second */
  perCpuSecond: number;
  /** raw RSA signatures per core-second measured next to this scenario (token scenarios only) */
  rawRate?: number;
  efficiency?: number;
}

export function scenarioTable(lines: readonly ScenarioLine[]): string {
  return markdownTable(
    ['scenario', 'conns', 'per s', 'p50', 'p99', 'bad/errors', 'OpenFed CPU', 'per CPU-s', 'raw sig/core-s', 'efficiency'],
    lines.map((l) => [
      l.scenario,
      String(l.connections),
      fmtInt(l.perSecond),
      fmtMs(l.p50),
      fmtMs(l.p99),
      String(l.bad),
      `${fmt1(l.cpuSeconds)} s / ${fmt1(l.seconds)} s`,
      fmtInt(l.perCpuSecond),
      l.rawRate === undefined ? '–' : fmtInt(l.rawRate),
      l.efficiency === undefined ? '–' : fmt2(l.efficiency),
    ]),
  );
}

// ------------------------------------------------------------------------------------ the floor

/** The scenario name of a floor phase (floor-server.ts under the same load as the token phases). */
export const floorScenario = (connections: number) => `floor: bare node:http + 1 signature @${connections}`;

/**
 * OpenFed's efficiency as a share of the floor server's at the same concurrency: how much of what this
 * machine allows a Node HTTP server that signs once per response OpenFed reaches. Undefined when either
 * figure is missing.
 */
export function shareOfFloor(openfedEfficiency: number | undefined, floorEfficiency: number | undefined): number | undefined {
  if (openfedEfficiency === undefined || floorEfficiency === undefined || !(floorEfficiency > 0)) return undefined;
  return openfedEfficiency / floorEfficiency;
}

/** The result cell of an efficiency row, e.g. "0.45 (1,900 tokens/s; 62 % of the floor)". */
export function efficiencyResult(line: ScenarioLine, floor?: ScenarioLine): string {
  const share = shareOfFloor(line.efficiency, floor?.efficiency);
  const ofFloor = share === undefined ? '' : `; ${Math.round(share * 100)} % of the floor`;
  return `${fmt2(line.efficiency ?? 0)} (${fmtInt(line.perSecond)} tokens/s${ofFloor})`;
}

/** The note that states the ceiling; undefined when no floor phase ran (--no-floor). */
export function ceilingNote(floors: readonly ScenarioLine[]): string | undefined {
  const measured = floors.filter((f) => f.efficiency !== undefined);
  if (measured.length === 0) return undefined;
  const figures = measured.map((f) => `${fmt2(f.efficiency!)} @${f.connections}`).join(' / ');
  const rates = measured.map((f) => `${fmtInt(f.perSecond)}/s @${f.connections}`).join(', ');
  return (
    `Ceiling on this machine: a bare node:http server signing once per response reaches efficiency ${figures} ` +
    `(${rates}; scripts/bench/floor-server.ts, same workers, same load).`
  );
}

export interface Machine {
  date: string;
  cpuModel: string;
  cores: number;
  node: string;
  loadAverage: readonly number[];
  memoryGiB: number;
}

export interface Report {
  machine: Machine;
  mode: string;
  workers: string;
  rows: Row[];
  scenarios: ScenarioLine[];
  notes: string[];
  failures: string[];
}

export function renderMarkdown(r: Report): string {
  const m = r.machine;
  return [
    '# OpenFed benchmarks',
    '',
    'Written by `npm run bench` (scripts/bench/); run it again to refresh this file. Issue #7 has the',
    'targets and why they are what they are.',
    '',
    `- date: ${m.date}`,
    `- machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}; load average at start ${m.loadAverage.map(fmt2).join(' ')}`,
    `- run: ${r.mode}; OpenFed ${r.workers}, NODE_ENV=production, log level warn, Redis sessions`,
    '',
    '## Results against the targets',
    '',
    targetsTable(r.rows),
    '',
    '## Load phases',
    '',
    scenarioTable(r.scenarios),
    '',
    '## How to read this',
    '',
    '- **efficiency** = tokens per CPU-second of the OpenFed processes ÷ RSA-2048/SHA-256 signatures per',
    '  CPU-second of one core (a pre-parsed `KeyObject` signing in a tight loop in a child process, measured',
    '  before and after each phase; the higher reading counts, since other tenants can only slow it). 1.0',
    '  would mean a token costs exactly its one signature. Both are CPU time, not wall time, so the ratio',
    '  does not count what the load generator (autocannon, in the bench process on the same cores) takes;',
    '  it is not immune to a busy machine, though: contention for caches and cores makes every request',
    '  dearer (the floor rows move with it), so compare runs made on a quiet machine.',
    '- **floor** rows: a bare `node:http` server (scripts/bench/floor-server.ts, as many cluster workers as',
    '  OpenFed) that per request only digests and signs once and answers a page the size of the SAML token',
    '  page, under the same load. Its efficiency is the ceiling on this machine — HTTP handling and the load',
    '  generator sharing the cores keep even it below 1.0 — and "% of the floor" beside an efficiency result',
    '  is how much of that ceiling OpenFed reaches at the same concurrency.',
    '- Tokens: SP-initiated SAML 2.0 AuthnRequests over the Redirect binding, each with a fresh ID, and WS-Fed',
    '  `wsignin1.0` requests, all with one SSO session cookie. Every response is checked to be an auto-POST',
    '  token page; a sample of each phase is validated by @node-saml/node-saml (SAML 2.0) and xmlsec1 (the',
    '  SAML 1.1 assertion of WS-Fed), with InResponseTo matched to a request the bench sent.',
    '- Warm-ups: the token phases follow 5 s of each protocol and the sign-ins 15 s of sign-ins (1 s and 3 s',
    '  in --quick), none of it measured: a server that has been up a while runs compiled code, and a fresh',
    '  process compiling the sign-in path spends half again as much CPU per sign-in in its first seconds.',
    '- Sign-ins: GET /signin (CSRF token) + POST /signin with the password, against the Samba AD DC, next to',
    '  plain LDAP simple binds of the same user straight to the DC at the same concurrency. Throttling and',
    '  extranet lockout are off in the bench configuration. For both, the Samba processes run on a CPU of',
    '  their own and OpenFed and the load generator on the others (taskset, undone afterwards), as when the',
    '  DC is its own server: on shared cores OpenFed and the load generator would take CPU the DC needs, and',
    '  the ratio would say how the cores were shared rather than what the DC can serve. Two ratios: wall',
    '  clock (sign-ins/s ÷ binds/s) and DC capacity (sign-ins per DC CPU-second ÷ binds per DC CPU-second,',
    '  read from /proc for the Samba processes: what a sign-in costs the DC next to a bind).',
    '- Redis per SSO session: sessions made by signing in, each then used for one SAML and one WS-Fed token;',
    '  MEMORY USAGE of its sess key plus its share of the user index set, with the INFO used_memory delta per',
    '  session beside it (less replication and client buffers and the replay-cache keys of its requests).',
    '',
    ...(r.notes.length > 0 ? ['## Notes', '', ...r.notes.map((n) => `- ${n}`), ''] : []),
    ...(r.failures.length > 0 ? ['## The run broke', '', ...r.failures.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
}
