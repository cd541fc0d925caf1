import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyaddr from 'proxy-addr';
import { buildMex, USERNAME_MIXED_ENDPOINTS, WINDOWS_TRANSPORT_ENDPOINTS } from '../../protocols/wstrust/mex.js';
import type { TrustProxy } from '../passive/http.js';
import type { WebContext } from '../web-context.js';

/** AD FS's media type for the MEX document (a WSDL, served as SOAP 1.2's type). */
export const MEX_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

interface Variant {
  body: Buffer;
  etag: string;
}

function variant(xml: string): Variant {
  const body = Buffer.from(xml, 'utf8');
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

/**
 * GET /adfs/services/trust/mex: the WS-MetadataExchange document rich clients read before every
 * WS-Trust sign-in (MSAL fetches it each time it resolves a federated user). It depends on baseUrl
 * alone, so it is built once here and served as bytes, cacheable like the federation metadata, with a
 * 304 for a matching If-None-Match. Register it only when config.wsTrust.enabled: a MEX listing
 * endpoints that do not answer sends clients into a dead end.
 *
 * With Windows Integrated Authentication on, clients offered it (kerberos.intranetNetworks) get a
 * second document that also lists windowstransport, as AD FS lists it inside but not through its
 * proxy; the two differ by client address, so neither may sit in a shared cache.
 */
export function mexDocument(ctx: Pick<WebContext, 'config' | 'windows'>, trustProxy: TrustProxy) {
  const baseUrl = ctx.config.server.baseUrl;
  const everyone = variant(buildMex({ baseUrl }));
  const windows = ctx.windows;
  const intranet = windows && variant(buildMex({ baseUrl, endpoints: [...USERNAME_MIXED_ENDPOINTS, ...WINDOWS_TRANSPORT_ENDPOINTS] }));
  return (req: IncomingMessage, res: ServerResponse) => {
    const { body, etag } = intranet && windows.offersTransport(proxyaddr(req, trustProxy)) ? intranet : everyone;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', intranet ? 'private, max-age=3600' : 'public, max-age=3600');
    if (req.headers['if-none-match'] === etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader('Content-Type', MEX_CONTENT_TYPE);
    res.setHeader('Content-Length', body.length);
    // Node leaves the body out of a HEAD answer by itself.
    res.end(body);
  };
}
