/**
 * Change one dependency's value in package.json text without reformatting the file: the string
 * literal is replaced where it stands, so indentation, key order and the final newline stay as
 * the project wrote them and the diff is one line per update. Pure.
 */

interface Token {
  kind: "string" | "punct" | "other";
  start: number;
  end: number;
  /** Decoded value for strings. */
  value?: string;
}

function* tokens(text: string): Generator<Token> {
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      i++;
      let value: string | undefined;
      try {
        value = JSON.parse(text.slice(start, i)) as string;
      } catch {
        value = undefined;
      }
      yield { kind: "string", start, end: i, ...(value !== undefined ? { value } : {}) };
    } else if ("{}[]:,".includes(c)) {
      yield { kind: "punct", start: i, end: i + 1, value: c };
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else {
      const start = i;
      while (i < text.length && !/[\s{}[\]:,"]/.test(text[i]!)) i++;
      yield { kind: "other", start, end: i };
    }
  }
}

/**
 * Replace the value of `key` in the top-level object `section` when it equals `oldValue`.
 * Returns the new text, or null when the entry is not there as expected (the file changed).
 */
export function setDependencyValue(text: string, section: string, key: string, oldValue: string, newValue: string): string | null {
  let depth = 0;
  let sectionDepth = -1;
  let pendingKey: string | undefined;
  let expectKey = false;
  let lastString: Token | undefined;
  for (const t of tokens(text)) {
    if (t.kind === "punct") {
      if (t.value === "{" || t.value === "[") {
        depth++;
        if (t.value === "{" && depth === 2 && pendingKey === section && sectionDepth < 0) sectionDepth = 2;
        expectKey = t.value === "{";
        pendingKey = undefined;
      } else if (t.value === "}" || t.value === "]") {
        if (depth === sectionDepth) sectionDepth = -2; // left the section: stop looking
        depth--;
      } else if (t.value === ":") {
        pendingKey = lastString?.value;
        expectKey = false;
      } else if (t.value === ",") {
        expectKey = true;
        pendingKey = undefined;
      }
      continue;
    }
    if (t.kind === "string") {
      if (expectKey) {
        lastString = t;
        continue;
      }
      if (depth === 2 && sectionDepth === 2 && pendingKey === key && t.value === oldValue) {
        return text.slice(0, t.start) + JSON.stringify(newValue) + text.slice(t.end);
      }
    }
  }
  return null;
}
