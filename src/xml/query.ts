/**
 * Namespace-exact DOM access. Matching on local names alone (or on strings) is how signature-wrapping
 * payloads slip through: an attacker's `<evil:Assertion>` must never be mistaken for a `saml:Assertion`.
 */
import type { Element, Node } from '@xmldom/xmldom';
import { XmlError } from './errors.js';

export type { Document, Element, Node } from '@xmldom/xmldom';

// DOM node types (numeric so this file needs no DOM globals, which tsconfig does not load).
export const ELEMENT_NODE = 1;
export const ATTRIBUTE_NODE = 2;
export const TEXT_NODE = 3;
export const CDATA_SECTION_NODE = 4;
export const PROCESSING_INSTRUCTION_NODE = 7;
export const COMMENT_NODE = 8;

export function isElement(node: Node, ns: string, localName: string): node is Element {
  return node.nodeType === ELEMENT_NODE && node.namespaceURI === ns && (node as Element).localName === localName;
}

/** Direct children only: a descendant search is exactly what signature wrapping exploits. */
export function childElements(parent: Element, ns: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling) {
    if (isElement(node, ns, localName)) found.push(node);
  }
  return found;
}

/** A repeated element is refused rather than "first wins": two parsers picking different ones is an attack. */
export function optionalChild(parent: Element, ns: string, localName: string): Element | undefined {
  const found = childElements(parent, ns, localName);
  if (found.length > 1) {
    throw new XmlError('duplicate_element', `<${parent.localName}> has ${found.length} <${localName}> children`);
  }
  return found[0];
}

export function requiredChild(parent: Element, ns: string, localName: string): Element {
  const child = optionalChild(parent, ns, localName);
  if (child === undefined) {
    throw new XmlError('unexpected_content', `<${parent.localName}> has no <${localName}> child`);
  }
  return child;
}

/**
 * The element's character content. Anything but text/CDATA is refused: a comment inside
 * `<NameID>admin@corp<!---->.evil.com</NameID>` is dropped by c14n (so the signature still holds) while
 * naive readers see only the first text node — the 2018 "comment truncation" class.
 */
export function textOf(el: Element): string {
  let value = '';
  for (let node = el.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType !== TEXT_NODE && node.nodeType !== CDATA_SECTION_NODE) {
      throw new XmlError('unexpected_content', `<${el.localName}> has a non-text child (node type ${node.nodeType})`);
    }
    value += node.nodeValue ?? '';
  }
  return value;
}

/** A non-namespaced attribute; `foo:ID` or `xmlns` never answer for `ID`. */
export function attribute(el: Element, name: string): string | undefined {
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const attr = attrs.item(i);
    if (attr !== null && !attr.namespaceURI && attr.localName === name) return attr.value;
  }
  return undefined;
}
