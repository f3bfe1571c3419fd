import { z } from "zod";
import { resolveWorkspacePath, shellQuote } from "../workspace-path.js";
import { cutMiddle } from "./truncate.js";
import type { Tool, ToolContext, ToolResult } from "./types.js";

/**
 * `str_replace_editor`, the file tool IQuest-Coder was evaluated with (OpenHands' editor): view,
 * create, str_replace, insert, undo_edit. All file access goes through the Environment, which
 * confines paths to the workspace (symlinks included); this tool adds the lexical check and
 * clear messages for the cases a model trips on: no match, several matches, binary and huge
 * files, directories.
 */

export interface EditorOptions {
  /** Larger files can be viewed by range but not edited here (use sed); keeps memory bounded. */
  maxFileBytes: number;
  /** A view longer than this is cut at a line boundary, with a note to use view_range. */
  maxViewChars: number;
  /** Lines of context shown around an edit. */
  snippetLines: number;
  /** Most entries shown by a directory view. */
  maxDirectoryEntries: number;
}

export const defaultEditorOptions: EditorOptions = {
  maxFileBytes: 4 * 1024 * 1024,
  maxViewChars: 16_000,
  snippetLines: 4,
  maxDirectoryEntries: 400,
};

const COMMANDS = ["view", "create", "str_replace", "insert", "undo_edit"] as const;

/** Text-protocol values arrive as strings: "[1, 40]", "1,40" or "1 40". */
function parseRange(value: unknown): unknown {
  if (typeof value !== "string") return Array.isArray(value) ? value.map((v) => (typeof v === "string" ? Number(v) : v)) : value;
  const text = value.trim();
  if (text.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch {
      return value;
    }
  }
  const parts = text.split(/[\s,]+/).filter(Boolean);
  return parts.length === 2 ? parts.map(Number) : value;
}

const intFromText = (v: unknown) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);

export const editorArgsSchema = z.object({
  command: z.enum(COMMANDS),
  path: z.string(),
  file_text: z.string().optional(),
  old_str: z.string().optional(),
  new_str: z.string().optional(),
  insert_line: z.preprocess(intFromText, z.number().int()).optional(),
  view_range: z.preprocess(parseRange, z.tuple([z.number().int(), z.number().int()])).optional(),
});

export type EditorArgs = z.infer<typeof editorArgsSchema>;

type ReadResult =
  | { ok: true; text: string; bytes: number }
  | { ok: false; kind: "missing" | "directory" | "binary" | "too-large" | "other"; error: string; bytes?: number };

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string") return code;
  const message = (err as Error)?.message ?? "";
  if (/EISDIR|is a directory/i.test(message)) return "EISDIR";
  if (/ENOENT|no such file/i.test(message)) return "ENOENT";
  return undefined;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function looksBinary(buf: Buffer): boolean {
  if (buf.subarray(0, 8192).includes(0)) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(buf);
    return false;
  } catch {
    return true;
  }
}

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  return lines;
}

function numbered(lines: readonly string[], firstLine: number): string {
  return lines.map((l, i) => `${String(firstLine + i).padStart(6)}\t${l}`).join("\n");
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < index; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

function occurrences(haystack: string, needle: string): number[] {
  const found: number[] = [];
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + 1)) found.push(i);
  return found;
}

export function createEditorTool(options: Partial<EditorOptions> = {}): Tool<EditorArgs> {
  const o = { ...defaultEditorOptions, ...options };
  // Per-run state: earlier contents of each edited file, newest last. `null` = did not exist.
  const history = new Map<string, Array<string | null>>();

  const fail = (output: string): ToolResult => ({ output: `Error: ${output}`, isError: true });

  async function read(ctx: ToolContext, rel: string, purpose: "view" | "edit"): Promise<ReadResult> {
    let buf: Buffer;
    try {
      buf = await ctx.env.readFile(rel);
    } catch (err) {
      const code = codeOf(err);
      if (code === "ENOENT") return { ok: false, kind: "missing", error: `${rel} does not exist` };
      if (code === "EISDIR") return { ok: false, kind: "directory", error: `${rel} is a directory` };
      if (code === "ERR_FS_FILE_TOO_LARGE" || err instanceof RangeError) {
        return { ok: false, kind: "too-large", error: `${rel} is too large to read into memory; use execute_bash (grep -n, sed -n 'A,Bp', head, tail)` };
      }
      return { ok: false, kind: "other", error: `cannot read ${rel}: ${(err as Error)?.message ?? String(err)}` };
    }
    if (looksBinary(buf)) {
      return {
        ok: false,
        kind: "binary",
        bytes: buf.length,
        error: `${rel} is a binary file (${formatBytes(buf.length)}); the editor works on text files only. Inspect it with execute_bash (e.g. \`file ${rel}\` or \`xxd ${rel} | head\`).`,
      };
    }
    if (purpose === "edit" && buf.length > o.maxFileBytes) {
      return {
        ok: false,
        kind: "too-large",
        bytes: buf.length,
        error: `${rel} is ${formatBytes(buf.length)}, more than the editor's limit of ${formatBytes(o.maxFileBytes)} for edits. Edit it with execute_bash (e.g. sed -i) instead.`,
      };
    }
    return { ok: true, text: buf.toString("utf8"), bytes: buf.length };
  }

  function remember(rel: string, previous: string | null): void {
    const list = history.get(rel) ?? [];
    list.push(previous);
    history.set(rel, list);
  }

  function snippet(text: string, fromLine: number, toLine: number): string {
    const lines = splitLines(text);
    const start = Math.max(1, fromLine - o.snippetLines);
    const end = Math.min(lines.length, toLine + o.snippetLines);
    return numbered(lines.slice(start - 1, end), start);
  }

  async function viewDirectory(ctx: ToolContext, rel: string): Promise<ToolResult> {
    const base = rel === "." ? "." : `./${rel}`;
    const result = await ctx.env.exec(`find ${shellQuote(base)} -maxdepth 2 -printf '%y %p\\n'`, {
      timeoutMs: 30_000,
      signal: ctx.signal,
      maxOutputBytes: 2_000_000,
    });
    if (result.exitCode !== 0 && result.output.trim() === "") {
      return { ...fail(`cannot list ${rel} (find exited with ${result.exitCode ?? result.killed})`), commandMs: result.durationMs };
    }
    const prefix = base === "." ? "./" : `${base}/`;
    const entries: string[] = [];
    for (const line of result.output.split("\n")) {
      const m = /^(\S) (.*)$/.exec(line);
      if (!m || m[2] === base) continue;
      const inner = m[2].startsWith(prefix) ? m[2].slice(prefix.length) : m[2];
      const parts = inner.split("/");
      // Hidden entries and the insides of dependency folders are noise for the model.
      if (parts.some((p) => p.startsWith("."))) continue;
      if (parts.length > 1 && (parts[0] === "node_modules" || parts[0] === "__pycache__")) continue;
      const shown = rel === "." ? inner : `${rel}/${inner}`;
      entries.push(m[1] === "d" ? `${shown}/` : shown);
    }
    entries.sort();
    const shown = entries.slice(0, o.maxDirectoryEntries);
    const more = entries.length - shown.length;
    const header = `Here are the files and directories up to 2 levels deep in ${rel === "." ? "the repository root" : rel}, excluding hidden items:`;
    const body = shown.length > 0 ? shown.join("\n") : "(empty)";
    return {
      output: `${header}\n${body}${more > 0 ? `\n[... ${more} more entries not shown; use execute_bash with find or ls to look further]` : ""}`,
      commandMs: result.durationMs,
    };
  }

  async function view(ctx: ToolContext, rel: string, range: [number, number] | undefined): Promise<ToolResult> {
    const file = await read(ctx, rel, "view");
    if (!file.ok) {
      if (file.kind === "directory") {
        if (range) return fail(`${rel} is a directory; view_range applies to files only`);
        return viewDirectory(ctx, rel);
      }
      return fail(file.error);
    }
    const lines = splitLines(file.text);
    if (lines.length === 0) return { output: `${rel} is empty.` };
    let start = 1;
    let end = lines.length;
    let note = "";
    if (range) {
      [start, end] = range;
      if (start < 1 || start > lines.length) {
        return fail(`view_range start ${start} is outside the file, which has ${lines.length} lines (1–${lines.length})`);
      }
      if (end === -1) end = lines.length;
      if (end < start) return fail(`view_range end ${end} is before its start ${start}; use [start, end] or [start, -1]`);
      if (end > lines.length) {
        note = `\n[the file has only ${lines.length} lines; showing up to the end]`;
        end = lines.length;
      }
    } else if (file.bytes > o.maxFileBytes) {
      return fail(
        `${rel} is ${formatBytes(file.bytes)} (${lines.length} lines), too large to view whole. Use view_range, e.g. [1, 100], or search it with execute_bash: grep -n PATTERN ${rel}`,
      );
    }
    // Cut at a line boundary so every line shown is whole and correctly numbered.
    let shownEnd = start - 1;
    let chars = 0;
    for (let i = start; i <= end; i++) {
      chars += lines[i - 1].length + 8;
      if (chars > o.maxViewChars && i > start) break;
      shownEnd = i;
    }
    if (shownEnd < end) {
      note += `\n[output cut at line ${shownEnd} of ${lines.length} to save context; use view_range [${shownEnd + 1}, ${Math.min(end, shownEnd + 200)}] to continue, or grep -n to find what you need]`;
    }
    let body = numbered(lines.slice(start - 1, shownEnd), start);
    // A single enormous line (minified code) could still be huge.
    if (body.length > o.maxViewChars * 2) body = cutMiddle(body, { maxLines: Number.MAX_SAFE_INTEGER, maxChars: o.maxViewChars });
    return { output: `Here's the result of running \`cat -n\` on ${rel}:\n${body}${note}` };
  }

  async function create(ctx: ToolContext, rel: string, fileText: string | undefined): Promise<ToolResult> {
    if (fileText === undefined) return fail("parameter `file_text` is required for command `create`");
    const existing = await read(ctx, rel, "view");
    if (existing.ok || existing.kind === "binary" || existing.kind === "too-large") {
      return fail(`${rel} already exists; \`create\` does not overwrite files. Use \`str_replace\` to change it, or remove it first with execute_bash`);
    }
    if (existing.kind === "directory") return fail(`${rel} is a directory`);
    if (existing.kind !== "missing") return fail(existing.error);
    try {
      await ctx.env.writeFile(rel, fileText);
    } catch (err) {
      return fail(`cannot write ${rel}: ${(err as Error)?.message ?? String(err)}`);
    }
    remember(rel, null);
    return { output: `File created successfully at: ${rel}` };
  }

  async function write(ctx: ToolContext, rel: string, text: string): Promise<ToolResult | undefined> {
    try {
      await ctx.env.writeFile(rel, text);
      return undefined;
    } catch (err) {
      return fail(`cannot write ${rel}: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  async function strReplace(ctx: ToolContext, rel: string, oldStr: string | undefined, newStr: string | undefined): Promise<ToolResult> {
    if (oldStr === undefined) return fail("parameter `old_str` is required for command `str_replace`");
    if (oldStr === "") return fail("`old_str` is empty; give the exact text to replace (use `insert` to add text)");
    const file = await read(ctx, rel, "edit");
    if (!file.ok) return fail(file.kind === "directory" ? `${rel} is a directory; str_replace edits files` : file.error);
    const content = file.text;
    const found = occurrences(content, oldStr);
    if (found.length === 0) {
      const hints: string[] = [];
      if (content.includes("\r\n") && !oldStr.includes("\r\n") && content.includes(oldStr.replace(/\n/g, "\r\n"))) {
        hints.push("The file uses CRLF (\\r\\n) line endings; your old_str uses \\n.");
      } else {
        const squash = (s: string) => s.replace(/\s+/g, " ").trim();
        const loose = squash(oldStr);
        if (loose && squash(content).includes(loose)) {
          hints.push("It would match if whitespace were ignored: check the indentation and line breaks (view the lines first).");
        }
      }
      return fail(`No replacement was performed: old_str did not appear verbatim in ${rel}. ${hints.join(" ")}`.trim());
    }
    if (found.length > 1) {
      const lines = found.slice(0, 10).map((i) => lineOf(content, i));
      return fail(
        `No replacement was performed: old_str appears ${found.length} times in ${rel} (at lines ${lines.join(", ")}${found.length > 10 ? ", …" : ""}). It must match exactly once: include more surrounding lines to make it unique.`,
      );
    }
    const at = found[0];
    const replacement = newStr ?? "";
    const updated = content.slice(0, at) + replacement + content.slice(at + oldStr.length);
    const failed = await write(ctx, rel, updated);
    if (failed) return failed;
    remember(rel, content);
    const first = lineOf(updated, at);
    const last = first + (replacement.match(/\n/g)?.length ?? 0);
    return {
      output: `The file ${rel} has been edited. Here's the result of running \`cat -n\` on a snippet of ${rel}:\n${snippet(updated, first, last)}\nReview the changes and make sure they are as expected. Edit the file again if necessary.`,
    };
  }

  async function insert(ctx: ToolContext, rel: string, line: number | undefined, newStr: string | undefined): Promise<ToolResult> {
    if (line === undefined) return fail("parameter `insert_line` is required for command `insert`");
    if (newStr === undefined) return fail("parameter `new_str` is required for command `insert`");
    const file = await read(ctx, rel, "edit");
    if (!file.ok) return fail(file.kind === "directory" ? `${rel} is a directory; insert edits files` : file.error);
    const content = file.text;
    const lines = splitLines(content);
    if (line < 0 || line > lines.length) {
      return fail(`insert_line ${line} is out of range: it must be between 0 (top of the file) and ${lines.length} (after the last line)`);
    }
    const added = newStr.split("\n");
    const out = [...lines.slice(0, line), ...added, ...lines.slice(line)];
    const updated = out.join("\n") + (content.endsWith("\n") || content === "" ? "\n" : "");
    const failed = await write(ctx, rel, updated);
    if (failed) return failed;
    remember(rel, content);
    return {
      output: `The file ${rel} has been edited. Here's the result of running \`cat -n\` on a snippet of the edited file:\n${snippet(updated, line + 1, line + added.length)}\nReview the changes and make sure they are as expected (correct indentation, no duplicate lines). Edit the file again if necessary.`,
    };
  }

  async function undo(ctx: ToolContext, rel: string): Promise<ToolResult> {
    const list = history.get(rel);
    const previous = list?.pop();
    if (!list || previous === undefined) return fail(`no edit to undo for ${rel}`);
    if (previous === null) {
      // The last edit created the file: undoing it removes the file again.
      const result = await ctx.env.exec(`rm -f -- ${shellQuote(rel)}`, { timeoutMs: 30_000, signal: ctx.signal });
      if (result.exitCode !== 0) {
        list.push(previous);
        return { ...fail(`cannot remove ${rel}: ${result.output.trim()}`), commandMs: result.durationMs };
      }
      return { output: `Last edit to ${rel} undone: the file it created was removed.`, commandMs: result.durationMs };
    }
    const failed = await write(ctx, rel, previous);
    if (failed) {
      list.push(previous);
      return failed;
    }
    return { output: `Last edit to ${rel} undone successfully. ${list.length > 0 ? `${list.length} earlier edit(s) can still be undone.` : ""}`.trim() };
  }

  return {
    spec: {
      name: "str_replace_editor",
      description: [
        "Custom editing tool for viewing, creating and editing files.",
        "* State is persistent across command calls and discussions with the user.",
        "* If `path` is a file, `view` displays the result of applying `cat -n`. If `path` is a directory, `view` lists non-hidden files and directories up to 2 levels deep.",
        "* The `create` command cannot be used if the specified `path` already exists as a file.",
        "* If a `command` generates a long output, it will be truncated and marked with a note.",
        "* The `undo_edit` command will revert the last edit made to the file at `path`.",
        "",
        "Notes for using the `str_replace` command:",
        "* The `old_str` parameter should match EXACTLY one or more consecutive lines from the original file. Be mindful of whitespaces!",
        "* If the `old_str` parameter is not unique in the file, the replacement will not be performed. Make sure to include enough context in `old_str` to make it unique.",
        "* The `new_str` parameter should contain the edited lines that should replace the `old_str`.",
      ].join("\n"),
      parameters: {
        type: "object",
        properties: {
          command: { type: "string", enum: COMMANDS, description: "The command to run." },
          path: { type: "string", description: "Path to the file or directory, relative to the repository root (or absolute inside it)." },
          file_text: { type: "string", description: "Required for `create`: the content of the file to be created." },
          old_str: { type: "string", description: "Required for `str_replace`: the string in `path` to replace." },
          new_str: {
            type: "string",
            description: "For `str_replace`: the new string (empty or omitted deletes old_str). Required for `insert`: the string to insert.",
          },
          insert_line: { type: "integer", description: "Required for `insert`: `new_str` is inserted AFTER this line (0 inserts at the top)." },
          view_range: {
            type: "array",
            items: { type: "integer" },
            description: "Optional for `view` of a file: the lines to show, e.g. [11, 12]; [start, -1] shows from start to the end. Lines are numbered from 1.",
          },
        },
        required: ["command", "path"],
      },
    },
    schema: editorArgsSchema,
    describe: (args) => `${args.command} ${args.path}${args.view_range ? ` [${args.view_range.join(", ")}]` : ""}`,
    async run(args, ctx) {
      const resolved = resolveWorkspacePath(args.path, [ctx.workdir, ctx.env.root]);
      if (!resolved.ok) return fail(resolved.error);
      const rel = resolved.relative;
      switch (args.command) {
        case "view":
          return view(ctx, rel, args.view_range);
        case "create":
          return create(ctx, rel, args.file_text);
        case "str_replace":
          return strReplace(ctx, rel, args.old_str, args.new_str);
        case "insert":
          return insert(ctx, rel, args.insert_line, args.new_str);
        case "undo_edit":
          return undo(ctx, rel);
      }
    },
  };
}
