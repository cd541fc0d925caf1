/**
 * npm run test:unit: every test file that needs no service — no Redis, no Samba AD DC, no Chromium,
 * no xmlsec1, nothing installed with apt, no root — run with node's test runner. `npm test` still runs
 * every file (scripts/test.sh); this is the quick loop while developing.
 *
 * Membership is decided from the test files themselves each run, so it cannot go stale. A file is
 * left out when it, or a module under test/ it imports (directly or not), either
 *   - imports one of SERVICE_HELPERS (the helpers that start or reach a service), or
 *   - mentions one of SERVICE_MARKERS (a service binary it runs itself, the DC's ad.env, the bench,
 *     or process.execPath: OpenFed or its CLI started as a child process, which costs seconds each).
 * test/helpers/* are judged only by the SERVICE_HELPERS list: helpers such as saml.ts hold a service
 * function (xmlsec1Verify) next to plain ones, and a test that calls it names it, so it is caught there.
 *
 * And so that a wrong guess shows, the tests run with those services out of reach: redis-server,
 * xmlsec1, chromium and the Samba/LDAP tools are hidden from PATH, and OPENFED_TEST_AD_ENV points
 * nowhere. A file that needs one of them fails here instead of passing on a machine that has it.
 *
 *   npm run test:unit                          every unit test file
 *   npm run test:unit -- test/xml/fuzz.test.ts  only these (each must be a unit test file)
 *   npm run test:unit -- --list                which files are in, and why the others are not
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Test helpers that start or reach a service: importing one makes a file a service test. */
const SERVICE_HELPERS: Record<string, string> = {
  'test/helpers/redis.ts': 'starts redis-server',
  'test/helpers/ad.ts': 'uses the Samba AD DC',
  'test/helpers/browser.ts': 'runs Chromium',
};

/** Words in a test file (or a test-local module it imports) that say it runs a service itself. */
const SERVICE_MARKERS: [RegExp, string][] = [
  [/scripts\/bench\/main/, 'runs the bench (Redis and the DC)'],
  // Not a service, but each start compiles the TypeScript with tsx: seconds of CPU per process.
  [/\bprocess\.execPath\b/, 'starts OpenFed or its CLI in a child process (slow)'],
  [/\bxmlsec1/, 'runs xmlsec1'],
  [/\bpython3-msal\b|\bmsal\b/, 'runs MSAL for Python (Debian python3-msal)'],
  [/\bredis-server\b/, 'runs redis-server'],
  [/\bchromium\b/i, 'runs Chromium'],
  [/OPENFED_TEST_AD_ENV|test\/setup\/samba-ad|\bsamba-tool\b|\bldapsearch\b/, 'uses the Samba AD DC'],
];

/** Hidden from PATH while the unit tests run. */
const HIDDEN_BINARIES = [
  'redis-server', 'redis-cli', 'redis-sentinel', 'xmlsec1', 'chromium', 'chromium-browser',
  'samba', 'samba-tool', 'smbd', 'ldapsearch', 'ldapmodify', 'ldapadd', 'ldapdelete', 'ldappasswd',
];

const log = (line: string) => process.stderr.write(`[test:unit] ${line}\n`);

function testFiles(dir = 'test'): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(join(REPO, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found.sort();
}

/** Relative imports of a file that stay inside test/, as repository paths of .ts files. */
function localImports(file: string): string[] {
  const source = readFileSync(join(REPO, file), 'utf8');
  const specifiers = [...source.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers
    .map((s) => relative(REPO, resolve(REPO, dirname(file), s.replace(/\.js$/, '.ts'))))
    .filter((path) => path.startsWith('test/') && existsSync(join(REPO, path)));
}

/** Why a test file is not a unit test (every reason found), or undefined when it is one. */
function serviceNeed(testFile: string): string | undefined {
  const reasons = new Map<string, string>(); // why → where it was first seen
  const seen = new Set<string>();
  const queue = [testFile];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const where = file === testFile ? '' : ` (${file})`;
    const helper = SERVICE_HELPERS[file];
    if (helper !== undefined && !reasons.has(helper)) reasons.set(helper, where);
    if (!file.startsWith('test/helpers/')) {
      const source = readFileSync(join(REPO, file), 'utf8');
      for (const [marker, why] of SERVICE_MARKERS) if (marker.test(source) && !reasons.has(why)) reasons.set(why, where);
    }
    queue.push(...localImports(file));
  }
  return reasons.size > 0 ? [...reasons].map(([why, where]) => why + where).join('; ') : undefined;
}

/** PATH with HIDDEN_BINARIES taken out: a directory holding one is replaced by a directory of links to the rest. */
function pathWithoutServices(shadowRoot: string): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir, i) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return dir;
      }
      if (!entries.some((name) => HIDDEN_BINARIES.includes(name))) return dir;
      const shadow = join(shadowRoot, String(i));
      mkdirSync(shadow);
      for (const name of entries) if (!HIDDEN_BINARIES.includes(name)) symlinkSync(join(dir, name), join(shadow, name));
      return shadow;
    })
    .join(delimiter);
}

// ------------------------------------------------------------------------------------------ main
const args = process.argv.slice(2);
const all = testFiles();
const needs = new Map(all.map((file) => [file, serviceNeed(file)] as const));
const unit = all.filter((file) => needs.get(file) === undefined);

if (args.includes('--list')) {
  for (const file of all) console.log(needs.get(file) === undefined ? `unit      ${file}` : `npm test  ${file}: ${needs.get(file)}`);
  console.log(`${unit.length} of ${all.length} test files are unit tests`);
  process.exit(0);
}

let files = unit;
if (args.length > 0) {
  const wanted = args.map((arg) => relative(REPO, resolve(arg)));
  const refused = wanted.filter((file) => needs.get(file) !== undefined || !all.includes(file));
  for (const file of refused) log(`${file} is not a unit test file: ${needs.get(file) ?? 'no such test file'} (npm test runs it)`);
  if (refused.length > 0) process.exit(1);
  files = wanted;
}
if (files.length === 0) {
  log('no unit test files found: treating as a failure');
  process.exit(1);
}

const shadowRoot = mkdtempSync(join(tmpdir(), 'openfed-test-unit-'));
const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithoutServices(shadowRoot), OPENFED_TEST_AD_ENV: join(shadowRoot, 'no-ad.env') };
delete env.REDIS_SERVER;
delete env.CHROMIUM_PATH;

// Files run in parallel (each in its own process): most of the time goes to starting processes and
// generating keys, not to one CPU. The spec reporter ends with "ℹ tests N", "ℹ pass N", "ℹ fail N".
const concurrency = Math.max(2, availableParallelism());
log(`${files.length} of ${all.length} test files, ${concurrency} at a time (the others need Redis, the Samba DC, Chromium, xmlsec1 or start processes: npm test runs them; --list says which)`);
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=120000', '--test-reporter=spec', ...files],
  { cwd: REPO, env, stdio: ['ignore', 'pipe', 'inherit'] },
);
let output = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk: string) => {
  process.stdout.write(chunk);
  output += chunk;
});
const cleanUp = () => rmSync(shadowRoot, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('close', (code, signal) => {
  cleanUp();
  // node's own summary (tests, pass, fail, duration_ms) is the last thing printed, unless no test ran.
  // A file that defines no test still counts as one passing test, printed as "✔ <its path> (…ms)".
  const tests = [...output.matchAll(/^ℹ tests (\d+)$/gm)].at(-1)?.[1];
  const empty = files.filter((file) => output.includes(`\n✔ ${join(REPO, file)} (`) || output.startsWith(`✔ ${join(REPO, file)} (`));
  if (Number(tests ?? 0) === 0 || empty.length > 0) {
    log(`no test ran${empty.length > 0 ? ` in ${empty.join(', ')}` : ''}: treating as a failure`);
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
