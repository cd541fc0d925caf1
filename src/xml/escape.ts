/**
 * Escaping for XML we write ourselves. Characters XML 1.0 cannot carry at all are refused rather than
 * silently dropped, by every function here.
 *
 * escapeXml: the five entities, and CR, LF and TAB as character references, so values survive
 * attribute-value normalisation unchanged (metadata and logout messages).
 *
 * c14nText / c14nAttribute: exactly what Exclusive XML Canonicalization writes (xml-exc-c14n, which takes
 * its serialisation rules from C14N 1.0 §2.3), so a token built from them is already its own canonical form
 * and its digest can be taken over the bytes as built. Text: & < > and CR as &#xD;. Attribute values (always
 * in double quotes): & < " TAB LF CR as &amp; &lt; &quot; &#x9; &#xA; &#xD;, while ' and > stay raw.
 */
import { InternalError } from '../errors.js';
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export class XmlTextError extends InternalError {}

function refuseNonXml(value: string): void {
  if (NOT_XML_CHAR.test(value)) throw new XmlTextError('value holds a character XML cannot carry');
}

export function escapeXml(value: string): string {
  refuseNonXml(value);
  return value.replace(/[&<>"'\r\n\t]/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};

const C14N_TEXT = /[&<>\r]/g;
const C14N_ATTRIBUTE = /[&<"\t\n\r]/g;

const C14N_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};
const c14nEscape = (c: string) => C14N_ESCAPES[c]!;

/** Character data in canonical form. */
export function c14nText(value: string): string {
  refuseNonXml(value);
  return value.replace(C14N_TEXT, c14nEscape);
}

/** An attribute value in canonical form, for a double-quoted attribute. */
export function c14nAttribute(value: string): string {
  refuseNonXml(value);
  return value.replace(C14N_ATTRIBUTE, c14nEscape);
}
