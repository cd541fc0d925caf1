/**
 * Escaping for XML we write ourselves. Text and attribute values get the five entities, and CR, LF
 * and TAB as character references, so values survive attribute-value normalisation unchanged;
 * characters XML 1.0 cannot carry at all are refused rather than silently dropped.
 */
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export class XmlTextError extends Error {}

export function escapeXml(value: string): string {
  if (NOT_XML_CHAR.test(value)) throw new XmlTextError('value holds a character XML cannot carry');
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
