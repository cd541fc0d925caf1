import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebContext } from '../web-context.js';

/**
 * GET /FederationMetadata/2007-06/FederationMetadata.xml: precomputed, signed bytes. Relying parties
 * poll it (Entra ID daily, for certificate rollover), so it is cacheable and answers 304 to a
 * matching If-None-Match.
 */
export function federationMetadata(ctx: WebContext) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const doc = ctx.metadata.get();
    // Straight to node's response: the bytes, their type and validator are all known already.
    res.setHeader('ETag', doc.etag);
    res.setHeader('Cache-Control', 'public, max-age=3600');
    if (req.headers['if-none-match'] === doc.etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader('Content-Type', doc.contentType);
    res.setHeader('Content-Length', doc.body.length);
    res.end(doc.body);
  };
}
