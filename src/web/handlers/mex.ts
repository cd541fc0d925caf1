import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildMex } from '../../protocols/wstrust/mex.js';
import type { WebContext } from '../web-context.js';

/** AD FS's media type for the MEX document (a WSDL, served as SOAP 1.2's type). */
export const MEX_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

/**
 * GET /adfs/services/trust/mex: the WS-MetadataExchange document rich clients read before every
 * WS-Trust sign-in (MSAL fetches it each time it resolves a federated user). It depends on baseUrl
 * alone, so it is built once here and served as bytes, cacheable like the federation metadata, with a
 * 304 for a matching If-None-Match. Register it only when config.wsTrust.enabled: a MEX listing
 * endpoints that do not answer sends clients into a dead end.
 */
export function mexDocument(ctx: Pick<WebContext, 'config'>) {
  const body = Buffer.from(buildMex({ baseUrl: ctx.config.server.baseUrl }), 'utf8');
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  return (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', 'public, max-age=3600');
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
