/**
 * A JSON parser that REJECTS an object with the same key twice, as strict log pipelines do
 * (JSON.parse silently keeps the last one, so it cannot tell). Small recursive descent over the
 * JSON grammar; values are returned as JSON.parse would return them.
 */
export class DuplicateKeyError extends Error {}

export function parseStrictJson(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${i}: ${text.slice(Math.max(0, i - 20), i + 20)}`);
  };
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i;
    if (text[i] !== '"') fail("expected a string");
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (text[i] !== '"') fail("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        ws();
        const key = string();
        if (seen.has(key)) throw new DuplicateKeyError(`duplicate key "${key}" at ${i}`);
        seen.add(key);
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        out[key] = value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return out;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return out;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const m = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 40));
    if (!m) return fail("unexpected token");
    i += m[0].length;
    return JSON.parse(m[0]) as unknown;
  };
  const out = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return out;
}
