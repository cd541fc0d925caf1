/** src/xml: the only place OpenFed parses, verifies and signs XML. */
export { XmlError, type XmlErrorCode } from './errors.js';
export { NS, SAML11_ASSERTION_NS } from './namespaces.js';
export { parseXml, type ParseLimits } from './parse.js';
export {
  attribute,
  childElements,
  isElement,
  optionalChild,
  requiredChild,
  textOf,
  type Document,
  type Element,
  type Node,
} from './query.js';
export { hasSignature, verifySignedRoot, type SignatureAlgorithm, type VerifiedXml, type VerifyOptions } from './verify.js';
export { signElement, type SignOptions, type SigningKeyMaterial } from './sign.js';
