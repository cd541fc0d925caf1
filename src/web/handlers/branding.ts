import type { Request, Response } from 'express';
import { NotFoundError } from '../../errors.js';
import { brandingOf } from '../branding.js';
import type { WebContext } from '../web-context.js';

/**
 * GET /branding/<name>: the theme stylesheet and the logo made from config.branding. Their names carry
 * a hash of their content, so they are cached for good: a new colour or logo is a new name.
 */
export function brandingAsset(ctx: WebContext) {
  return (req: Request, res: Response) => {
    const asset = brandingOf(ctx.config).asset(String(req.params.file));
    if (!asset) throw new NotFoundError();
    res.set('Content-Type', asset.type);
    res.set('Cache-Control', 'public, max-age=31536000, immutable');
    res.send(asset.body);
  };
}
