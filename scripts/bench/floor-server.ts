/**
 * The ceiling of the bench's efficiency figure on this machine: a bare node:http server that does
 * nothing per request but what a token cannot do without — one SHA-256 digest over the page and one
 * RSA-2048 signature with a KeyObject parsed once — and answers with a page the size of OpenFed's
 * token page. Run under the same autocannon load, on the same cores, with the same number of cluster
 * workers as OpenFed, it shows what is left for OpenFed to gain: HTTP parsing, the response write and
 * the load generator's share of the cores cost this server too, so even it stays well below 1.0.
 *
 *   tsx scripts/bench/floor-server.ts <port> <workers> <body-bytes>
 *
 * With more than one worker it is a cluster primary that only forks (as OpenFed's farm is); with one it
 * serves in its own process (as OpenFed with server.workers 1 does). Any GET gets the page.
 */
import cluster from 'node:cluster';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** About the size of a SignedInfo element: what a token signature really covers. */
const SIGNED_INFO_BYTES = 600;
const DIGEST_OFFSET = 100;
const KEY_ENV = 'OPENFED_FLOOR_KEY';

interface FloorArgs {
  port: number;
  workers: number;
  bodyBytes: number;
}

function parseArgs(argv: readonly string[]): FloorArgs {
  const [port, workers, bodyBytes] = argv.map(Number);
  const ok = (n: number | undefined): n is number => Number.isInteger(n) && n! > 0;
  if (!ok(port) || !ok(workers) || !ok(bodyBytes)) throw new Error('usage: floor-server.ts <port> <workers> <body-bytes>');
  return { port, workers, bodyBytes };
}

/**
 * A page of exactly `bodyBytes` ASCII bytes: the base64 signature and digest, then filler. The
 * filler stands for the assertion; its first bytes differ per response, as a token's ID does, so the
 * digest is really computed over fresh content.
 */
function pageMaker(key: KeyObject, bodyBytes: number): () => string {
  const head = '<html><body><form method="post"><input type="hidden" name="SAMLResponse" value="';
  const tail = '"></form></body></html>';
  const signatureChars = 344; // base64 of 256 bytes
  const digestChars = 44; // base64 of 32 bytes
  const fillerChars = bodyBytes - head.length - tail.length - signatureChars - digestChars;
  if (fillerChars < 32) throw new Error(`body of ${bodyBytes} bytes is too small for a signed page`);
  const filler = randomBytes(fillerChars).toString('base64').slice(0, fillerChars);
  const signedInfo = randomBytes(SIGNED_INFO_BYTES);
  let n = 0;
  return () => {
    const id = `_${process.pid}-${n++}-`;
    const assertion = id + filler.slice(id.length);
    const digest = createHash('sha256').update(assertion).digest();
    // The digest goes into the signed bytes, as DigestValue goes into SignedInfo.
    digest.copy(signedInfo, DIGEST_OFFSET);
    const signature = sign('sha256', signedInfo, key).toString('base64');
    return head + signature + digest.toString('base64') + assertion + tail;
  };
}

function serve(args: FloorArgs, keyPem: string): void {
  const page = pageMaker(createPrivateKey(keyPem), args.bodyBytes);
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    const body = page();
    // Content-Length as Express sends it for OpenFed's page: chunked framing would be extra work OpenFed does not do.
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': body.length });
    res.end(body);
  };
  createServer(handler).listen(args.port, '127.0.0.1');
}

function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (cluster.isWorker) return serve(args, process.env[KEY_ENV] ?? '');
  // One key for the whole farm, handed to the workers, as OpenFed's workers share its signing key.
  const keyPem = newKeyPem();
  if (args.workers === 1) return serve(args, keyPem);
  for (let i = 0; i < args.workers; i++) cluster.fork({ [KEY_ENV]: keyPem });
  // A worker that dies makes the bench see a vanished process: the run is broken, not restarted.
  cluster.on('exit', () => process.exit(1));
}

main();
