/**
 * Every route OpenFed serves, in one place. Handlers are thin: parse, call, render.
 */
import express, { type Express } from 'express';
import type { WebContext } from './context.js';
import { healthz, readyz } from './handlers/health.js';
import { home, signOut } from './handlers/home.js';
import { showSignIn, submitSignIn } from './handlers/signin.js';

export const ROUTES = {
  home: '/',
  signIn: '/signin',
  signOut: '/signout',
  health: '/healthz',
  adfsProbe: '/adfs/probe',
  ready: '/readyz',
  assets: '/assets',
} as const;

export function registerRoutes(app: Express, ctx: WebContext, assetsDir: string): void {
  const forms = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 16 });

  app.get(ROUTES.health, healthz());
  app.get(ROUTES.adfsProbe, healthz());
  app.get(ROUTES.ready, readyz(ctx));
  app.use(ROUTES.assets, express.static(assetsDir, { fallthrough: false, index: false, maxAge: '1h' }));

  app.get(ROUTES.home, home(ctx));
  app.get(ROUTES.signIn, showSignIn(ctx));
  app.post(ROUTES.signIn, forms, ctx.csrf.protect, submitSignIn(ctx));
  app.post(ROUTES.signOut, forms, ctx.csrf.protect, signOut(ctx));
}
