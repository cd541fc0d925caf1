/**
 * The one XML parser entry point. Everything a SAML/WS-Fed message never legitimately contains is refused
 * outright rather than tolerated: DTDs (XXE, billion laughs), extra roots and processing instructions
 * (parser differentials), duplicate IDs (signature wrapping), absurd sizes and depths (DoS).
 */
import { DOMParser, type Document, type Element, type Node } from '@xmldom/xmldom';
import { XmlError } from './errors.js';
import { ELEMENT_NODE, PROCESSING_INSTRUCTION_NODE } from './query.js';

export interface ParseLimits {
  /** Default 262144, counted in UTF-8 bytes, checked before parsing. */
  maxBytes?: number;
  /** Element nesting limit (default 64; real SAML is ~10 deep). Keeps recursive c14n/serialisers off the stack edge. */
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 262_144;
export const DEFAULT_MAX_DEPTH = 64;

/**
 * Attribute local names treated as XML IDs, in any namespace. This is deliberately wider than what the
 * verifier resolves (ID, AssertionID): xml-crypto looks references up by local-name over Id/ID/id too, so a
 * duplicate under any of these spellings could make it digest an element other than the one we checked.
 */
const ID_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(['ID', 'Id', 'id', 'AssertionID']);

// `<!DOCTYPE`/`<!ENTITY` anywhere (even inside a comment or CDATA) is refused: no legitimate message needs the
// text, and a refusal on the raw bytes cannot be undone by a parser quirk.
const DTD_MARKUP = /<!\s*(?:DOCTYPE|ENTITY)/i;

// Outside XML 1.0's Char production. xmldom lets `&#0;` and friends through; a NUL in a NameID is a
// truncation waiting to happen in whichever C library the relying party uses.
const NON_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function parseXml(xml: string, limits: ParseLimits = {}): Document {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = Buffer.byteLength(xml, 'utf8');
  if (size > maxBytes) throw new XmlError('too_large', `XML is ${size} bytes, limit ${maxBytes}`);
  if (DTD_MARKUP.test(xml)) throw new XmlError('dtd', 'XML contains a DTD or entity declaration');

  let doc: Document;
  // xmldom rethrows what onError throws as its own ParseError, not always keeping the cause; remember ours.
  let reported: XmlError | undefined;
  try {
    doc = new DOMParser({
      // Warnings too: xmldom "recovers" from them, and a recovered tree is one another parser may not build.
      onError: (level, message) => {
        reported ??= new XmlError(classifyParserMessage(message), `XML ${level}: ${message}`);
        throw reported;
      },
    }).parseFromString(xml, 'text/xml');
  } catch (error) {
    throw reported ?? new XmlError('malformed', 'XML could not be parsed', { cause: error });
  }

  if (doc.doctype !== null) throw new XmlError('dtd', 'XML has a DOCTYPE');
  checkTopLevel(doc);
  checkTree(doc.documentElement!, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  return doc;
}

function classifyParserMessage(message: string): 'not_single_root' | 'malformed' {
  return /only one element|missing root element/i.test(message) ? 'not_single_root' : 'malformed';
}

/** xmldom reports the XML declaration as a processing instruction; it is the only one we let through. */
function checkTopLevel(doc: Document): void {
  let roots = 0;
  let index = 0;
  for (let node = doc.firstChild; node !== null; node = node.nextSibling, index++) {
    if (node.nodeType === ELEMENT_NODE) roots++;
    else if (node.nodeType === PROCESSING_INSTRUCTION_NODE && !(index === 0 && node.nodeName === 'xml')) {
      throw new XmlError('unexpected_content', 'XML contains a processing instruction');
    }
  }
  if (roots !== 1 || doc.documentElement === null) {
    throw new XmlError('not_single_root', `XML has ${roots} root elements`);
  }
}

/** One iterative walk (no recursion: depth is attacker-chosen) for PIs, depth, characters and duplicate IDs. */
function checkTree(root: Element, maxDepth: number): void {
  const seenIds = new Set<string>();
  const stack: Array<{ node: Node; depth: number }> = [{ node: root, depth: 1 }];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const { node, depth } = entry;
    if (node.nodeType === PROCESSING_INSTRUCTION_NODE) {
      throw new XmlError('unexpected_content', 'XML contains a processing instruction');
    }
    if (node.nodeType !== ELEMENT_NODE) {
      checkChars(node.nodeValue ?? '');
      continue;
    }
    if (depth > maxDepth) throw new XmlError('too_large', `XML nests deeper than ${maxDepth} elements`);

    const attrs = (node as Element).attributes;
    for (let i = 0; i < attrs.length; i++) {
      const attr = attrs.item(i);
      if (attr === null) continue;
      checkChars(attr.value);
      if (!ID_ATTRIBUTE_NAMES.has(attr.localName ?? '')) continue;
      if (seenIds.has(attr.value)) throw new XmlError('duplicate_id', 'XML repeats an ID attribute value');
      seenIds.add(attr.value);
    }
    for (let child = node.firstChild; child !== null; child = child.nextSibling) {
      stack.push({ node: child, depth: depth + 1 });
    }
  }
}

function checkChars(value: string): void {
  if (NON_XML_CHAR.test(value)) throw new XmlError('malformed', 'XML contains a character XML 1.0 does not allow');
}
