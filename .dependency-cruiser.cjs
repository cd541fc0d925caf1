/**
 * The layering of src/ (issue #12), checked by `npm run lint` (`depcruise src`) and so by `npm test`.
 *
 *   - no import cycles;
 *   - the protocol core (protocols, xml, claims, policy, authn) and the readiness rules (readiness)
 *     are plain logic: no HTTP framework, no Redis, no LDAP, nothing from the web layer or the
 *     server wiring;
 *   - only src/redis/ talks to Redis (ioredis), only src/directory/ talks LDAP (ldapts);
 *   - src/ never reaches into test/ or scripts/; src/errors.ts depends on nothing in src/.
 *
 * A rule's `comment` is what `depcruise` prints next to a violation.
 */

/**
 * The protocol core, and the Microsoft 365 readiness rules (users in, findings out; the CLI reads
 * the directory): every folder here must stay free of I/O libraries and the web layer.
 */
const CORE = '^src/(protocols|xml|claims|policy|authn|readiness)/';

/** npm packages the protocol core may not use (they belong to the web layer, Redis and LDAP). */
const IO_PACKAGES = ['express', 'ioredis', 'ldapts', 'cookie-parser', 'cookie', 'body-parser', 'accepts', 'proxy-addr', 'helmet', 'passport', 'ejs', 'csrf-csrf'];

/** A module path in node_modules for one of the packages (also matches @types/<name>). */
const packagePaths = (names) => `(^|/)node_modules/(@types/)?(${names.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles in src/ are not allowed: move the shared piece into a module both sides import.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-no-io-packages',
      severity: 'error',
      comment:
        'src/protocols, src/xml, src/claims, src/policy, src/authn and src/readiness are plain logic: ' +
        `no ${IO_PACKAGES.join(', ')}. Take what they need as a parameter or an interface instead.`,
      from: { path: CORE },
      to: { path: packagePaths(IO_PACKAGES) },
    },
    {
      name: 'core-no-outer-layers',
      severity: 'error',
      comment:
        'The protocol core never imports the web layer (src/web/), Redis (src/redis/), the LDAP ' +
        'directory (src/directory/active-directory.ts) or the server wiring (src/server.ts).',
      from: { path: CORE },
      to: { path: '^src/(web/|redis/|directory/active-directory\\.ts$|server\\.ts$)' },
    },
    {
      name: 'front-door-endpoints-no-express',
      severity: 'error',
      comment:
        'A front door\'s endpoint (src/web/passive/endpoint.ts, src/web/wstrust/endpoint.ts) takes request parts and ' +
        'returns an outcome: no express, no HTTP library. Its HTTP side is http.ts beside it.',
      from: { path: '^src/web/(passive|wstrust)/endpoint\\.ts$' },
      to: { path: packagePaths(['express', 'body-parser', 'cookie-parser', 'cookie', 'proxy-addr', 'accepts', 'ejs']) },
    },
    {
      name: 'mfa-no-web-no-ldap',
      severity: 'error',
      comment: 'src/mfa (the second factor and its stores) never imports the web layer, express or LDAP: the web layer calls it.',
      from: { path: '^src/mfa/' },
      to: { path: `^src/web/|${packagePaths(['express', 'ldapts', 'body-parser', 'cookie-parser'])}` },
    },
    {
      name: 'ioredis-only-in-src-redis',
      severity: 'error',
      comment: 'Only src/redis/ imports ioredis: Redis stores take a connection from src/redis/.',
      from: { path: '^src/', pathNot: '^src/redis/' },
      to: { path: packagePaths(['ioredis']) },
    },
    {
      name: 'ldapts-only-in-src-directory',
      severity: 'error',
      comment: 'Only src/directory/ imports ldapts.',
      from: { path: '^src/', pathNot: '^src/directory/' },
      to: { path: packagePaths(['ldapts']) },
    },
    {
      name: 'src-not-to-test-or-scripts',
      severity: 'error',
      comment: 'Shipped code never imports from test/ or scripts/.',
      from: { path: '^src/' },
      to: { path: '^(test|scripts)/' },
    },
    {
      name: 'errors-imports-nothing-from-src',
      severity: 'error',
      comment: 'src/errors.ts is imported by every layer, so it imports nothing from src/.',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file or an installed package.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Cruise src/ (the command line names it); follow into node_modules only far enough to name the
    // package, and keep test/ and scripts/ in sight so that importing them is reported, not skipped.
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // "type": "module" + NodeNext: imports say './x.js' for './x.ts'; these let the resolver find them.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.d.ts', '.js', '.cjs', '.mjs', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
