/**
 * The one place a failure becomes a response: logged (internal causes at error, refusals at warn, a
 * dependency's outage at debug: Redis's connection and the directory log it as it starts and ends),
 * audited when a protocol message was refused (AD FS event 1201, under the protocol of the route that
 * received it), and answered as the error page — or JSON for a client that prefers it — with the
 * status and message id errors.ts decides; the page in the reader's language, the JSON in English (a
 * program reads it). Used by the front doors on Node's response and by express's
 * error middleware alike, so a refusal reads the same whichever way the request came in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import accepts from 'accepts';
import { ProtocolError, ServiceUnavailableError, toProblem, type Protocol } from '../errors.js';
import type { Logger } from '../log.js';
import type { AppDeps } from './context.js';
import { PAGE_MESSAGES } from './messages.js';
import { layoutLocals } from './render.js';
import { renderView } from './views.js';

export interface Failure {
  err: unknown;
  /** The protocol of the route that received the message, when it is a protocol endpoint. */
  protocol?: Protocol;
  clientIp: string;
  requestId: string;
  log: Logger;
}

export function answerError(req: IncomingMessage, res: ServerResponse, deps: Pick<AppDeps, 'audit' | 'config'>, failure: Failure): void {
  const { err, protocol, requestId, log } = failure;
  const problem = toProblem(err);
  // A 503 for Redis or the DCs being down is one of thousands in an outage, which src/outage.ts
  // reports as it changes (lost, still down, back): a line per request would flood the log then.
  if (err instanceof ServiceUnavailableError) log.debug({ err, messageId: problem.messageId }, 'request failed: dependency unavailable');
  else if (problem.status >= 500) log.error({ err, messageId: problem.messageId }, 'request failed');
  else log.warn({ reason: (err as Error | undefined)?.message, messageId: problem.messageId }, 'request rejected');
  if (protocol !== undefined && err instanceof ProtocolError) {
    deps.audit.record({ type: 'token.refused', protocol, reason: problem.messageId, clientIp: failure.clientIp }, requestId);
  }
  if (res.headersSent) return;
  const message = PAGE_MESSAGES[problem.messageId];
  res.statusCode = problem.status;
  res.setHeader('Cache-Control', 'no-store');
  if (wantsJson(req)) {
    sendBody(res, 'application/json; charset=utf-8', JSON.stringify({ error: problem.messageId, message: message.text, requestId }));
    return;
  }
  const layout = layoutLocals(req, deps.config, { languageSwitch: false });
  const { t } = layout;
  const locals = { ...layout, requestId, title: t(`page.${problem.messageId}.title`), text: t(`page.${problem.messageId}.text`), now: Date.now() };
  renderView('error', locals).then(
    (html) => sendBody(res, 'text/html; charset=utf-8', html),
    // A broken template must not turn an error page into a stack trace.
    () => sendBody(res, 'text/plain; charset=utf-8', `${message.title}. Reference: ${requestId}`),
  );
}

/** Probes and API-style clients get JSON: /readyz always, anyone else who prefers it to HTML. */
function wantsJson(req: IncomingMessage): boolean {
  const path = (req.url ?? '').split('?', 1)[0];
  return path === '/readyz' || accepts(req).type(['html', 'json']) === 'json';
}

/**
 * A whole body written to Node's response with its type and byte length; nothing when a response is
 * already under way. The string goes to the socket as it is (encoded once, natively), not through a
 * Buffer copy of it.
 */
export function sendBody(res: ServerResponse, type: string, body: string): void {
  if (res.headersSent) return;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body, 'utf8');
}
