import { renderTemplate } from "../prompts.js";
import type { ParsedToolCall, ToolSpec } from "./types.js";

/**
 * IQuest's own agent runs (R2E-Gym with the OpenHands scaffold) did not use native tool calls:
 * the tools are described in the system prompt and each assistant turn ends with one call
 *
 *   <function=NAME>
 *   <parameter=KEY>VALUE</parameter>
 *   </function>
 *
 * which we parse out of the content. Everything before the first `<function=` is the thought.
 * All parameter values arrive as strings; the tool's schema coerces numbers and arrays.
 */

export interface TextCallParse {
  calls: ParsedToolCall[];
  /** A problem that is not tied to one call, e.g. a `<parameter=` outside any function. */
  problem?: string;
}

const FUNCTION_OPEN = /<function=([^>\n]*)>/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parse every call in `content`; `nextId` names them (text calls have no server-given id). */
export function parseTextToolCalls(content: string, nextId: () => string): TextCallParse {
  const opens = [...content.matchAll(FUNCTION_OPEN)];
  if (opens.length === 0) {
    if (/<parameter=|<\/function>/.test(content)) {
      return {
        calls: [],
        problem: "found <parameter=…> or </function> without an opening <function=NAME> tag",
      };
    }
    return { calls: [] };
  }
  const calls: ParsedToolCall[] = [];
  for (let i = 0; i < opens.length; i++) {
    const open = opens[i];
    const bodyStart = open.index + open[0].length;
    const bodyEnd = i + 1 < opens.length ? opens[i + 1].index : content.length;
    let body = content.slice(bodyStart, bodyEnd);
    const close = body.indexOf("</function>");
    // A missing </function> at the very end is tolerated: servers often stop on it.
    if (close !== -1) body = body.slice(0, close);
    const name = open[1].trim();
    calls.push(parseOneCall(name, body, nextId()));
  }
  return { calls };
}

function parseOneCall(name: string, body: string, id: string): ParsedToolCall {
  const base = { id, name, protocol: "text" as const };
  if (!NAME.test(name)) {
    return { ...base, arguments: "{}", error: `"${name}" is not a valid function name` };
  }
  const args: Record<string, string> = {};
  const re = /<parameter=([^>\n]*)>/g;
  let m: RegExpExecArray | null;
  // Text between parameters is ignored, as the scaffold did.
  while ((m = re.exec(body)) !== null) {
    const key = m[1].trim();
    const valueStart = m.index + m[0].length;
    const end = body.indexOf("</parameter>", valueStart);
    if (end === -1) {
      return {
        ...base,
        arguments: JSON.stringify(args),
        error: `parameter "${key}" is not closed with </parameter>`,
      };
    }
    if (!NAME.test(key)) {
      return { ...base, arguments: JSON.stringify(args), error: `"${key}" is not a valid parameter name` };
    }
    if (key in args) {
      return { ...base, arguments: JSON.stringify(args), error: `parameter "${key}" is given twice` };
    }
    args[key] = trimOneNewline(body.slice(valueStart, end));
    re.lastIndex = end + "</parameter>".length;
  }
  return { ...base, arguments: JSON.stringify(args), args };
}

/** Values are usually written on their own lines; drop exactly one newline at each end so that
 * indentation and deliberate blank lines in `old_str`/`new_str` survive. */
function trimOneNewline(value: string): string {
  let v = value;
  if (v.startsWith("\r\n")) v = v.slice(2);
  else if (v.startsWith("\n")) v = v.slice(1);
  if (v.endsWith("\r\n")) v = v.slice(0, -2);
  else if (v.endsWith("\n")) v = v.slice(0, -1);
  return v;
}

/** Render the tool list for the system prompt, in the OpenHands function-call format. */
export function renderTextToolDocs(template: string, tools: readonly ToolSpec[]): string {
  const blocks = tools.map((tool, i) => {
    const n = i + 1;
    const required = new Set(tool.parameters.required ?? []);
    const params = Object.entries(tool.parameters.properties).map(([key, p], j) => {
      const kind = `${p.type}, ${required.has(key) ? "required" : "optional"}`;
      const allowed = p.enum ? ` Allowed values: [${p.enum.map((v) => `\`${v}\``).join(", ")}]` : "";
      return `  (${j + 1}) ${key} (${kind}): ${p.description ?? ""}${allowed}`;
    });
    return [
      `---- BEGIN FUNCTION #${n}: ${tool.name} ----`,
      `Description: ${tool.description}`,
      params.length > 0 ? `Parameters:\n${params.join("\n")}` : "No parameters are required for this function.",
      `---- END FUNCTION #${n} ----`,
    ].join("\n");
  });
  return renderTemplate(template, { functions: blocks.join("\n\n") });
}
