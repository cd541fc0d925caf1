/**
 * errors.ts is the one place that decides what an error becomes on the wire: an HTTP status and
 * message id, a SAML status for a trusted SP, a WS-Fed/WS-Trust fault code, and whether the relying
 * party may be answered at all. Table-driven: one row per class of error.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  answersRelyingParty,
  BadRequestError,
  CsrfError,
  InternalError,
  NotFoundError,
  ProtocolError,
  SamlError,
  ServiceUnavailableError,
  StoreUnavailableError,
  toProblem,
  toSamlStatus,
  toWsfedFault,
  TokenRefusedError,
  WsfedError,
} from '../../src/errors.js';
import { XmlError } from '../../src/xml/errors.js';

const rows: Array<{ name: string; err: unknown; problem: [number, string]; saml: object; fault: string; answerRp: boolean }> = [
  { name: 'SamlError with a second-level status', err: new SamlError('saml_request_invalid', 'x', { top: 'Requester', sub: 'InvalidNameIDPolicy' }), problem: [400, 'saml_request_invalid'], saml: { top: 'Requester', sub: 'InvalidNameIDPolicy' }, fault: 'wst:InvalidRequest', answerRp: true },
  { name: 'SamlError, Responder', err: new SamlError('saml_request_invalid', 'x', { top: 'Responder', sub: 'NoAuthnContext' }), problem: [400, 'saml_request_invalid'], saml: { top: 'Responder', sub: 'NoAuthnContext' }, fault: 'wst:InvalidRequest', answerRp: true },
  { name: 'WsfedError with its fault', err: new WsfedError('wsfed_unknown_realm', 'x', 'fed:BadRequest'), problem: [400, 'wsfed_unknown_realm'], saml: { top: 'Requester' }, fault: 'fed:BadRequest', answerRp: true },
  { name: 'WsfedError, default fault', err: new WsfedError('wsfed_request_invalid', 'x'), problem: [400, 'wsfed_request_invalid'], saml: { top: 'Requester' }, fault: 'wst:InvalidRequest', answerRp: true },
  { name: 'TokenRefusedError: the user reads it, the RP is not told', err: new TokenRefusedError('m365_domain_not_federated', 'x'), problem: [403, 'm365_domain_not_federated'], saml: { top: 'Requester' }, fault: 'wst:InvalidRequest', answerRp: false },
  { name: 'BadRequestError', err: new BadRequestError('x'), problem: [400, 'bad_request'], saml: { top: 'Requester' }, fault: 'wst:InvalidRequest', answerRp: true },
  { name: 'CsrfError', err: new CsrfError(), problem: [403, 'csrf_failed'], saml: { top: 'Requester' }, fault: 'wst:InvalidRequest', answerRp: true },
  { name: 'NotFoundError', err: new NotFoundError(), problem: [404, 'not_found'], saml: { top: 'Requester' }, fault: 'wst:InvalidRequest', answerRp: true },
  { name: 'StoreUnavailableError: 503, sessions', err: new StoreUnavailableError('redis down'), problem: [503, 'sessions_unavailable'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'ServiceUnavailableError, directory', err: new ServiceUnavailableError('directory_unavailable', 'x'), problem: [503, 'directory_unavailable'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'InternalError (configuration, keys)', err: new InternalError('key missing'), problem: [500, 'internal_error'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'XmlError is an internal error until a protocol names it', err: new XmlError('malformed', 'x'), problem: [500, 'internal_error'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'a foreign error: a bare 500', err: new TypeError('x is undefined'), problem: [500, 'internal_error'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'body-parser 413', err: Object.assign(new Error('too large'), { status: 413 }), problem: [413, 'payload_too_large'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'an http-error 4xx: only its status is believed', err: Object.assign(new Error('<script>'), { status: 415 }), problem: [400, 'bad_request'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
  { name: 'a thrown string', err: 'oops', problem: [500, 'internal_error'], saml: { top: 'Responder' }, fault: 'wst:RequestFailed', answerRp: true },
];

describe('errors.ts maps every error once', () => {
  for (const row of rows) {
    test(row.name, () => {
      const problem = toProblem(row.err);
      assert.deepEqual([problem.status, problem.messageId], row.problem);
      assert.deepEqual(toSamlStatus(row.err), row.saml);
      assert.equal(toWsfedFault(row.err), row.fault);
      assert.equal(answersRelyingParty(row.err), row.answerRp);
    });
  }

  test('protocol refusals are ProtocolErrors (audited as token.refused); the others are not', () => {
    for (const err of [new SamlError('saml_request_invalid', 'x'), new WsfedError('wsfed_request_invalid', 'x'), new TokenRefusedError('m365_no_immutable_id', 'x')]) {
      assert.ok(err instanceof ProtocolError, err.name);
    }
    for (const err of [new BadRequestError('x'), new StoreUnavailableError('x'), new InternalError('x')]) assert.ok(!(err instanceof ProtocolError), err.name);
  });

  test('the name is the class name, for logs', () => {
    assert.equal(new WsfedError('wsfed_request_invalid', 'x').name, 'WsfedError');
    assert.equal(new StoreUnavailableError('x').name, 'StoreUnavailableError');
  });
});
