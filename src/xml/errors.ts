/**
 * Every way src/xml/ refuses a message. Callers branch on `code`; the message is for logs only — it
 * may quote attacker-controlled names, so it must never reach a user verbatim.
 */
import { InternalError } from '../errors.js';
export type XmlErrorCode =
  | 'too_large'
  | 'dtd'
  | 'malformed'
  | 'not_single_root'
  | 'unexpected_content'
  | 'duplicate_element'
  | 'duplicate_id'
  | 'signature_missing'
  | 'signature_invalid'
  | 'signature_algorithm'
  | 'signature_reference'
  | 'untrusted_key';

export class XmlError extends InternalError {
  constructor(
    readonly code: XmlErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'XmlError';
  }
}
