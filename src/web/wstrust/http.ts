/**
 * The HTTP side of the WS-Trust front door: Node's request in, a WsTrustRequest to the endpoint, its
 * SOAP answer out. Everything that is not a SOAP POST is still answered in SOAP (a fault), never with
 * the HTML error page: the caller is a program.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import bodyParser from 'body-parser';
import proxyaddr from 'proxy-addr';
import { toSoapFault, WsTrustError } from '../../errors.js';
import type { SoapVersion, WsTrustVersion } from '../../protocols/wstrust/constants.js';
import { buildFault } from '../../protocols/wstrust/response.js';
import { sendBody } from '../error-response.js';
import { PAGE_MESSAGES } from '../messages.js';
import type { NodeHandler, TrustProxy } from '../passive/http.js';
import type { WsTrustAnswer, WsTrustAuthentication, WsTrustEndpoint } from './endpoint.js';

const CONTENT_TYPE: Record<SoapVersion, string> = {
  '1.2': 'application/soap+xml; charset=utf-8',
  '1.1': 'text/xml; charset=utf-8',
};

/** POST /adfs/services/trust/{2005,13}/{usernamemixed,windowstransport}. */
export function wsTrustDoor(endpoint: WsTrustEndpoint, version: WsTrustVersion, authentication: WsTrustAuthentication, maxMessageBytes: number, trustProxy: TrustProxy): NodeHandler {
  // Any declared charset is decoded (415 for one iconv does not know); the envelope is then parsed once.
  const readBody = bodyParser.text({ type: () => true, limit: maxMessageBytes, defaultCharset: 'utf-8' });
  return (req, res) => {
    const soap = soapVersionOf(req.headers['content-type']);
    const refuse = (error: unknown, allow?: string) => {
      const answer = toSoapFault(error);
      req.log.warn({ reason: (error as Error | undefined)?.message, messageId: answer.messageId }, 'WS-Trust request refused');
      if (allow !== undefined) res.setHeader('Allow', allow);
      write(res, {
        status: (soap ?? '1.2') === '1.1' ? 500 : answer.status,
        soap: soap ?? '1.2',
        body: buildFault({ soap: soap ?? '1.2', version, fault: answer, reason: PAGE_MESSAGES[answer.messageId].text }),
      });
    };
    if (req.method !== 'POST') {
      return refuse(new WsTrustError('method_not_allowed', `${req.method ?? ''} on a SOAP endpoint`, { code: 'Sender', subcode: 'wst:InvalidRequest' }, 405), 'POST');
    }
    if (soap === undefined) {
      return refuse(new WsTrustError('wstrust_request_invalid', 'not a SOAP content type', { code: 'Sender', subcode: 'wst:InvalidRequest' }, 415));
    }
    readBody(req, res, (err?: unknown) => {
      if (err !== undefined) return refuse(err);
      const body = (req as IncomingMessage & { body?: unknown }).body;
      endpoint
        .handle({
          version,
          authentication,
          authorization: req.headers.authorization,
          soap,
          body: typeof body === 'string' ? body : '',
          soapAction: soapActionOf(req.headers.soapaction),
          https: isHttps(req, trustProxy),
          clientIp: proxyaddr(req, trustProxy),
          requestId: req.id,
          log: req.log,
        })
        .then((answer) => write(res, answer), refuse);
    });
  };
}

/** The HTTP bindings name the SOAP version: SOAP 1.1 is text/xml, SOAP 1.2 application/soap+xml. */
function soapVersionOf(contentType: string | undefined): SoapVersion | undefined {
  const media = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/soap+xml') return '1.2';
  if (media === 'text/xml') return '1.1';
  return undefined;
}

/** SOAPAction is a quoted URI (SOAP 1.1 §6.1.1); an empty one means "the Action header says". */
function soapActionOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const value = header.trim();
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** As express decides req.protocol: TLS on the socket, or X-Forwarded-Proto from a trusted proxy. */
function isHttps(req: IncomingMessage, trustProxy: TrustProxy): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  if (!trustProxy(req.socket.remoteAddress ?? '', 0)) return false;
  const forwarded = req.headers['x-forwarded-proto'];
  const first = (typeof forwarded === 'string' ? forwarded : '').split(',', 1)[0]!.trim().toLowerCase();
  return first === 'https';
}

function write(res: ServerResponse, answer: WsTrustAnswer): void {
  res.statusCode = answer.status;
  res.setHeader('Cache-Control', 'no-store');
  if (answer.retryAfter !== undefined) res.setHeader('Retry-After', String(answer.retryAfter));
  if (answer.wwwAuthenticate !== undefined) res.setHeader('WWW-Authenticate', answer.wwwAuthenticate);
  sendBody(res, CONTENT_TYPE[answer.soap], answer.body);
}
