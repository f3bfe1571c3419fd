import { readFile } from "node:fs/promises";

/**
 * Prompt files live in src/agent/prompts/*.md (copied beside the compiled code by
 * scripts/copy-assets.mjs), so wording changes are reviewed as text, not hunted in string
 * literals. Templates use `{{name}}` placeholders; rendering fails on a missing value rather
 * than sending the model a literal "{{name}}".
 */

export const PROMPT_NAMES = [
  "system",
  "fix-task",
  "upgrade-task",
  "text-protocol",
  "text-observation",
  "observation",
  "no-tool-call",
  "malformed-call",
  "truncated-turn",
  "condense",
  "condensed-history",
] as const;

export type PromptName = (typeof PROMPT_NAMES)[number];
export type PromptSet = Readonly<Record<PromptName, string>>;

export async function loadPrompt(name: PromptName): Promise<string> {
  return readFile(new URL(`./prompts/${name}.md`, import.meta.url), "utf8");
}

/** Read every prompt once per run (a few small files), so steps never touch the disk for them. */
export async function loadPrompts(): Promise<PromptSet> {
  const texts = await Promise.all(PROMPT_NAMES.map((n) => loadPrompt(n)));
  return Object.fromEntries(PROMPT_NAMES.map((n, i) => [n, texts[i]])) as Record<PromptName, string>;
}

/**
 * Fill `{{key}}` placeholders. `{{#key}}…{{/key}}` keeps its body only when `key` is non-empty,
 * for optional sections such as the repo's own instructions; a newline right after either tag
 * belongs to the tag, so sections can sit on lines of their own. Values are inserted verbatim (no
 * recursive expansion), so untrusted text cannot inject placeholders.
 */
export function renderTemplate(template: string, vars: Readonly<Record<string, string | number | undefined>>): string {
  const withSections = template.replace(/\{\{#(\w+)\}\}\n?([\s\S]*?)\{\{\/\1\}\}\n?/g, (_m, key: string, body: string) => {
    if (!(key in vars)) throw new Error(`prompt template: no value for section "${key}"`);
    const v = vars[key];
    return v === undefined || v === "" ? "" : body;
  });
  // One pass over the template only: values are never scanned for placeholders.
  return withSections
    .replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
      const v = vars[key];
      if (v === undefined) throw new Error(`prompt template: no value for "{{${key}}}"`);
      return String(v);
    })
    .replace(/\n+$/, "");
}
