/**
 * A small strict XML parser for checking generated plists and task XML on a machine without plutil
 * or schtasks: it throws on anything not well-formed (unclosed or mismatched tags, stray `<` or
 * `&`, unknown entities, content after the root).
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: Array<XmlElement | string>;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(text: string, at: number): string {
  if (text.includes('<')) throw new Error(`stray "<" near offset ${at}`);
  return text.replace(/&([^;\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(';')) throw new Error(`unterminated entity near offset ${at}`);
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    const v = ENTITIES[name];
    if (v === undefined) throw new Error(`unknown entity &${name}; near offset ${at}`);
    return v;
  });
}

export function parseXml(source: string): XmlElement {
  let i = 0;
  const skipMisc = (): void => {
    for (;;) {
      const ws = /^\s*/.exec(source.slice(i));
      i += ws?.[0].length ?? 0;
      if (source.startsWith('<?', i)) i = mustFind('?>', i) + 2;
      else if (source.startsWith('<!--', i)) i = comment(i);
      else if (source.startsWith('<!DOCTYPE', i)) i = mustFind('>', i) + 1;
      else return;
    }
  };
  const mustFind = (s: string, from: number): number => {
    const at = source.indexOf(s, from);
    if (at < 0) throw new Error(`expected "${s}" after offset ${from}`);
    return at;
  };
  const comment = (from: number): number => {
    const end = mustFind('-->', from + 4);
    if (source.slice(from + 4, end).includes('--')) throw new Error(`"--" inside a comment at ${from}`);
    return end + 3;
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(
      source.slice(i),
    );
    if (!open)
      throw new Error(`expected an element at offset ${i}: ${JSON.stringify(source.slice(i, i + 30))}`);
    const [whole, name = '', attrText = '', selfClose] = open;
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      const key = a[1] ?? '';
      if (key in attrs) throw new Error(`duplicate attribute ${key} on <${name}>`);
      attrs[key] = decode(a[2] ?? a[3] ?? '', i);
    }
    i += whole.length;
    const el: XmlElement = { name, attrs, children: [] };
    if (selfClose) return el;
    for (;;) {
      const lt = mustFind('<', i);
      if (lt > i) el.children.push(decode(source.slice(i, lt), i));
      i = lt;
      if (source.startsWith('</', i)) {
        const close = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(source.slice(i));
        if (close?.[1] !== name) throw new Error(`</${close?.[1] ?? '?'}> closes <${name}> at offset ${i}`);
        i += close[0].length;
        return el;
      }
      if (source.startsWith('<!--', i)) i = comment(i);
      else el.children.push(element());
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== source.length) throw new Error(`content after the root element at offset ${i}`);
  return root;
}

export const childElements = (el: XmlElement): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string');

export const textOf = (el: XmlElement): string => el.children.filter((c) => typeof c === 'string').join('');

/** The first element at this path of names below `el` (e.g. 'Settings/RestartOnFailure/Count'). */
export function find(el: XmlElement, pathText: string): XmlElement | undefined {
  let cur: XmlElement | undefined = el;
  for (const name of pathText.split('/')) cur = cur && childElements(cur).find((c) => c.name === name);
  return cur;
}

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

/** Reads a parsed <plist> into plain values, rejecting anything Apple's DTD does not allow. */
export function plistValue(el: XmlElement): PlistValue {
  const kids = childElements(el);
  switch (el.name) {
    case 'plist':
      if (kids.length !== 1 || !kids[0]) throw new Error('<plist> must hold exactly one value');
      return plistValue(kids[0]);
    case 'string':
      return textOf(el);
    case 'integer':
      return Number.parseInt(textOf(el), 10);
    case 'true':
    case 'false':
      if (el.children.length > 0) throw new Error(`<${el.name}/> must be empty`);
      return el.name === 'true';
    case 'array':
      return kids.map(plistValue);
    case 'dict': {
      const out: Record<string, PlistValue> = {};
      for (let k = 0; k < kids.length; k += 2) {
        const key = kids[k];
        const value = kids[k + 1];
        if (key?.name !== 'key' || !value) throw new Error('<dict> must alternate <key> and a value');
        out[textOf(key)] = plistValue(value);
      }
      return out;
    }
    default:
      throw new Error(`<${el.name}> is not a plist value`);
  }
}
