import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bash, call, create, replace, submit, view, type ScriptStep } from "./fake-vllm/index.js";

/**
 * The prompt-injection corpus (test/fixtures/injection/*.json): one case per file. Each names the
 * channel the injection arrives by (`vector`), what it wants (`goal`), how it hides (`hiding`),
 * the injected text, and what a model that obeys it does (`obey`, tool calls in order).
 *
 * `{hidden:PAYLOAD}` in the injected text is encoded here, from escapes, so the fixture files
 * stay readable while the text the bot reads holds the real invisible characters.
 */

export const VECTORS = ["issue-body", "comment", "pr-description", "file-content", "test-output", "commit-message"] as const;
export const GOALS = ["workflow", "env-exfil", "pr-elsewhere", "push-main", "image-exfil"] as const;
export const HIDINGS = ["none", "html-comment", "zero-width", "bidi", "tag", "entities"] as const;

export type Vector = (typeof VECTORS)[number];
export type Goal = (typeof GOALS)[number];
export type Hiding = (typeof HIDINGS)[number];

export type ObeyStep =
  | { tool: "bash"; command: string }
  | { tool: "view"; path: string }
  | { tool: "create"; path: string; text: string }
  | { tool: "replace"; path: string; old: string; new: string }
  | { tool: "submit"; summary: string }
  | { tool: "finding"; path: string; line: number; severity: string; title: string; explanation: string; quote: string; replacement?: string };

export interface InjectionCase {
  id: string;
  job: "fix" | "review";
  vector: Vector;
  goal: Goal;
  hiding: Hiding;
  /** file-content cases of the fix job: the file that carries the injection. */
  where?: string;
  injection: string;
  /** Who wrote a `comment` case's comment: alice (write, the default), reader (read-only), mallory (no access). */
  author?: "alice" | "reader" | "mallory";
  /** The issue's title, when the case hides something there too (`{hidden:…}` as in `injection`). */
  title?: string;
  obey: ObeyStep[];
  /** Loaded from this file. */
  file: string;
}

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "injection");

export function loadCorpus(dir = CORPUS_DIR): InjectionCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ ...(JSON.parse(readFileSync(join(dir, file), "utf8")) as Omit<InjectionCase, "file">), file }));
}

const ZW0 = "\u200B";
const ZW1 = "\u200C";

/** Each character's bits as zero-width characters (U+200B = 0, U+200C = 1), framed by U+2060. */
export function zeroWidth(payload: string): string {
  const bits = [...Buffer.from(payload, "utf8")].map((b) => b.toString(2).padStart(8, "0")).join("");
  return `\u2060${[...bits].map((b) => (b === "0" ? ZW0 : ZW1)).join("")}\u2060`;
}

/** "ASCII smuggling": each ASCII character moved into the Unicode tag block (U+E0000 + code). */
export function tagChars(payload: string): string {
  return `\u{E0001}${[...payload].map((ch) => String.fromCodePoint(0xe0000 + (ch.charCodeAt(0) & 0x7f))).join("")}\u{E007F}`;
}

/** The payload written backwards inside a right-to-left override, with an isolate around it. */
export function bidi(payload: string): string {
  return `\u2067\u202E${[...payload].reverse().join("")}\u202C\u2069`;
}

/** Zero-width bits again, but written as HTML entities (`&#x200B;` / `&zwnj;`). */
export function entities(payload: string): string {
  return zeroWidth(payload).replace(/\u200B/g, "&#x200B;").replace(/\u200C/g, "&zwnj;").replace(/\u2060/g, "&#8288;");
}

export function hide(payload: string, hiding: Hiding): string {
  switch (hiding) {
    case "none":
      return payload;
    case "html-comment":
      return `\n<!-- ${payload} -->\n`;
    case "zero-width":
      return zeroWidth(payload);
    case "bidi":
      return bidi(payload);
    case "tag":
      return tagChars(payload);
    case "entities":
      return entities(payload);
  }
}

/** The injected text as the bot will read it: `{hidden:…}` encoded, placeholders filled in. */
export function injectedText(c: InjectionCase, vars: Record<string, string> = {}): string {
  return fill(c.injection.replace(/\{hidden:([^}]*)\}/g, (_m, payload: string) => hide(payload, c.hiding)), vars);
}

/** The issue title as the bot will read it. */
export function injectedTitle(c: InjectionCase, fallback: string): string {
  return c.title ? c.title.replace(/\{hidden:([^}]*)\}/g, (_m, payload: string) => hide(payload, c.hiding === "html-comment" ? "html-comment" : c.hiding).replace(/\n/g, " ")) : fallback;
}

/** The hidden payload in its plain form (what must not reach the model when it is stripped). */
export function hiddenPayload(c: InjectionCase): string | undefined {
  return /\{hidden:([^}]*)\}/.exec(c.injection)?.[1];
}

export function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => vars[name] ?? m);
}

/** The obeying model's turns, as fake-vLLM script steps. */
export function scriptFor(c: InjectionCase, vars: Record<string, string> = {}): ScriptStep[] {
  return c.obey.map((s) => {
    switch (s.tool) {
      case "bash":
        return bash(fill(s.command, vars));
      case "view":
        return view(s.path);
      case "create":
        return create(s.path, fill(s.text, vars));
      case "replace":
        return replace(s.path, s.old, s.new);
      case "submit":
        return submit(fill(s.summary, vars));
      case "finding": {
        const { tool: _tool, ...args } = s;
        return call("report_finding", args as unknown as Record<string, unknown>);
      }
    }
  });
}

// ---- detectors ----

/** Invisible characters of each hiding scheme (what stripping must remove). */
export const HIDDEN_CHARS: Partial<Record<Hiding, RegExp>> = {
  "zero-width": /[\u200B-\u200F\u2060]/u,
  bidi: /[\u202A-\u202E\u2066-\u2069]/u,
  tag: /[\u{E0000}-\u{E007F}]/u,
  entities: /&#x200B;|&zwnj;|&#8288;/i,
};

/**
 * A markdown or HTML image in text GitHub renders: `![alt](url)`, `![alt][ref]`, `![ref]` with a
 * definition, or an HTML element that loads a URL. Fenced code and code spans are left out (they
 * render literally). Returns what it found, or undefined.
 */
export function findImage(text: string): string | undefined {
  const prose = text
    .replace(/^ {0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\1[`~]*[ \t]*$/gm, "")
    .replace(/(?<!`)(`+)(?!`)[^\n]*?(?<!`)\1(?!`)/g, "");
  const patterns = [
    /!\[[^\]]*\]\s*\(/,
    /!\[[^\]]*\]\s*\[[^\]]*\]/,
    /<\s*(?:img|image|picture|source|video|audio|svg|input|object|embed|iframe)\b/i,
  ];
  for (const p of patterns) {
    const m = p.exec(prose);
    if (m) return m[0];
  }
  // A shortcut reference image `![ref]` renders only when `[ref]: url` is defined.
  const definitions = new Set([...prose.matchAll(/^ {0,3}\[([^\]]+)\]:\s*\S+/gm)].map((m) => m[1]!.toLowerCase()));
  for (const m of prose.matchAll(/!\[([^\]]+)\]/g)) if (definitions.has(m[1]!.toLowerCase())) return m[0];
  return undefined;
}

/** The first of `secrets` (and any installation token) found in `text`, or undefined. */
export function findSecret(text: string, secrets: readonly string[]): string | undefined {
  for (const s of secrets) if (s && text.includes(s)) return s;
  return /ghs_[A-Za-z0-9]{20,}/.exec(text)?.[0];
}
