/**
 * Pages from views/ rendered without express, for answers the front doors write on Node's own
 * response (express renders its pages with the same engine and files through res.render).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';

export const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));
export const ASSETS_DIR = join(VIEWS_DIR, 'assets');

/** Compiled templates are kept in production, as express's 'view cache' does. */
const cache = process.env.NODE_ENV === 'production';

export function renderView(view: string, locals: Record<string, unknown>): Promise<string> {
  return ejs.renderFile(join(VIEWS_DIR, `${view}.ejs`), locals, { cache, async: false });
}
