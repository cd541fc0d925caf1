/**
 * WS-Trust from the client's side: an OpenFed on HTTPS (rich clients drop http:// endpoints), SOAP
 * requests written as MSAL writes them (and twisted, for the refusals), and Microsoft's own client —
 * Debian's python3-msal, its mex, wstrust_request and wstrust_response modules — driving the real flow.
 */
import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import type { ConfigInput } from '../../src/config/schema.js';
import { WS_TRUST_PATHS, type WsTrustVersion } from '../../src/protocols/wstrust/constants.js';
import { M365_REALM } from './wstrust-messages.js';

export { buildRst, M365_REALM, readFault } from './wstrust-messages.js';
import { makeTlsMaterial } from './redis.js';
import { startTestServer, type TestServer } from './server.js';
import { freePort } from './test-sp.js';

export interface WsTrustServer extends TestServer {
  /** https://localhost:<port> */
  base: string;
  caFile: string;
  ca: Buffer;
  address(version: WsTrustVersion): string;
}


/** OpenFed serving HTTPS on localhost with a certificate from a throwaway CA; baseUrl is that address. */
export async function startWsTrustServer(input: ConfigInput = {}, options: Parameters<typeof startTestServer>[1] = {}): Promise<WsTrustServer> {
  const tls = makeTlsMaterial();
  const port = await freePort();
  const base = `https://localhost:${port}`;
  const server = await startTestServer(
    { ...input, server: { baseUrl: base, port, tls: { keyFile: tls.keyFile, certFile: tls.certFile }, ...input.server } },
    options,
  );
  return {
    ...server,
    base,
    caFile: tls.caFile,
    ca: readFileSync(tls.caFile),
    address: (version) => `${base}${WS_TRUST_PATHS.usernameMixed[version]}`,
  };
}

export interface SoapReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** POSTs (or sends `method`) over HTTPS trusting the test CA. */
export function postSoap(
  url: string,
  body: string,
  options: { ca: Buffer; contentType?: string; soapAction?: string; method?: string; headers?: Record<string, string> },
): Promise<SoapReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: options.method ?? 'POST',
        ca: options.ca,
        headers: {
          'Content-Type': options.contentType ?? 'application/soap+xml; charset=utf-8',
          ...(options.soapAction !== undefined ? { SOAPAction: options.soapAction } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export type MsalResult =
  | { ok: true; endpoint: { address: string; action: string }; type: string; token: string }
  | { ok: false; error: string };

/**
 * Microsoft's client, unmodified: reads our MEX, picks the endpoint it prefers (or the one `version`
 * forces, as when MEX lists only that one), sends its own RST and extracts the token from our answer.
 */
export function msalSignIn(o: { mexUrl: string; caFile: string; username: string; password: string; audience?: string; version?: WsTrustVersion }): Promise<MsalResult> {
  const script = `
import json, sys, requests
from msal import mex, wstrust_request
mex_url, ca, username, password, audience, version = sys.argv[1:7]
s = requests.Session()
# Only the test CA: REQUESTS_CA_BUNDLE and proxies from the environment would override it.
s.trust_env = False
s.verify = ca
try:
    endpoint = mex.send_request(mex_url, s)
    if endpoint is None:
        raise RuntimeError("MEX lists no usable endpoint")
    if version:
        doc = mex.Mex(s.get(mex_url).text)
        action = mex.Mex.ACTION_13 if version == "13" else mex.Mex.ACTION_2005
        chosen = [e for e in doc._get_endpoints(doc._get_bindings(), doc._get_username_password_policy_ids()) if e["action"] == action]
        if not chosen:
            raise RuntimeError("MEX lists no WS-Trust %s endpoint" % version)
        endpoint = chosen[0]
    result = wstrust_request.send_request(username, password, audience, endpoint["address"], endpoint["action"], s)
    print(json.dumps({"ok": True, "endpoint": endpoint, "type": result["type"], "token": result["token"].decode("utf-8")}))
except Exception as e:
    print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}))
`;
  return new Promise((resolve, reject) => {
    execFile(
      // Debian's interpreter: python3-msal is a Debian package, not in another python3 on PATH.
      '/usr/bin/python3',
      ['-c', script, o.mexUrl, o.caFile, o.username, o.password, o.audience ?? M365_REALM, o.version ?? ''],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error && !stdout) {
          const missing = /No module named 'msal'/.test(stderr) ? ' (apt-get install python3-msal)' : '';
          return reject(new Error(`python3-msal failed${missing}: ${stderr.slice(0, 500)}`));
        }
        try {
          resolve(JSON.parse(stdout) as MsalResult);
        } catch {
          reject(new Error(`python3-msal printed no result: ${stdout.slice(0, 300)} ${stderr.slice(0, 300)}`));
        }
      },
    );
  });
}
