import type { Request, Response } from 'express';
import type { WebContext } from '../context.js';

/**
 * GET /FederationMetadata/2007-06/FederationMetadata.xml: precomputed, signed bytes. Relying parties
 * poll it (Entra ID daily, for certificate rollover), so it is cacheable and answers 304 to a
 * matching If-None-Match.
 */
export function federationMetadata(ctx: WebContext) {
  return (req: Request, res: Response) => {
    const doc = ctx.metadata.get();
    res.set({ ETag: doc.etag, 'Cache-Control': 'public, max-age=3600', 'Content-Type': doc.contentType });
    if (req.headers['if-none-match'] === doc.etag) {
      res.status(304).end();
      return;
    }
    res.send(doc.body);
  };
}
