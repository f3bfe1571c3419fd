import type { FakeFault, FakeReply, FakeToolCall, RecordedRequest, ScriptStep } from "./server.js";

/**
 * Shorthands for script steps. A reply is protocol-neutral: the server writes tool calls as
 * native `tool_calls` or as the text protocol, and the reasoning in the configured field, so one
 * script serves every protocol and reasoning format.
 */

type ReplyExtras = Omit<FakeReply, "kind" | "toolCalls">;

/** An answer with one tool call. */
export function call(name: string, args: Record<string, unknown> | string = {}, extras: ReplyExtras = {}): FakeReply {
  return { reasoning: `I will call ${name}.`, ...extras, toolCalls: [{ name, arguments: args }] };
}

/** Several calls in one turn (the loop must refuse them). */
export function calls(list: FakeToolCall[], extras: ReplyExtras = {}): FakeReply {
  return { reasoning: "Several things at once.", ...extras, toolCalls: list };
}

export const bash = (command: string, extras: ReplyExtras = {}) => call("execute_bash", { command }, extras);
export const view = (path: string, extras: ReplyExtras & { range?: [number, number] } = {}) => {
  const { range, ...rest } = extras;
  return call("str_replace_editor", { command: "view", path, ...(range ? { view_range: range } : {}) }, rest);
};
export const replace = (path: string, oldStr: string, newStr: string, extras: ReplyExtras = {}) =>
  call("str_replace_editor", { command: "str_replace", path, old_str: oldStr, new_str: newStr }, extras);
export const create = (path: string, fileText: string, extras: ReplyExtras = {}) =>
  call("str_replace_editor", { command: "create", path, file_text: fileText }, extras);
export const submit = (summary = "Done.", extras: ReplyExtras = {}) => call("submit", { summary }, extras);

/** Plain text, no tool call. */
export function say(content: string, extras: ReplyExtras = {}): FakeReply {
  return { ...extras, content };
}

/** Cut off by max_tokens while still thinking: reasoning only, finish_reason "length". */
export function truncatedThinking(reasoning = "Let me think about this very carefully and at great length"): FakeReply {
  return { reasoning, content: "", finishReason: "length" };
}

export const fault = {
  rateLimit: (retryAfterS = 1): FakeFault => ({
    kind: "error",
    status: 429,
    message: "Too many requests",
    headers: { "retry-after": String(retryAfterS) },
  }),
  serverError: (status = 500): FakeFault => ({ kind: "error", status, message: "Internal server error" }),
  contextOverflow: (maxModelLen?: number): FakeFault => ({ kind: "context-overflow", ...(maxModelLen ? { maxModelLen } : {}) }),
  hang: (): FakeFault => ({ kind: "hang" }),
  drop: (): FakeFault => ({ kind: "drop" }),
  unreadable: (): FakeFault => ({ kind: "raw", body: "<html>proxy error</html>", contentType: "text/html" }),
};

/** Malformed calls, as a confused model writes them. */
export const malformed = {
  /** Native: arguments that are not JSON. (Text protocol: a parameter never closed.) */
  badArguments: (): FakeReply => ({
    reasoning: "Run ls.",
    toolCalls: [{ name: "execute_bash", arguments: '{"command": "ls"' }],
  }),
  unknownTool: (): FakeReply => call("run_shell", { command: "ls" }),
  missingParameter: (): FakeReply => call("str_replace_editor", { command: "view" }),
  severalCalls: (): FakeReply =>
    calls([
      { name: "execute_bash", arguments: { command: "ls" } },
      { name: "execute_bash", arguments: { command: "pwd" } },
    ]),
  /** Text protocol written wrong, whatever the server's protocol. */
  unclosedParameter: (): FakeReply => ({
    reasoning: "Run ls.",
    content: "<function=execute_bash>\n<parameter=command>ls\n</function>",
    toolProtocol: "text",
  }),
};

/**
 * One script per task, played by turn. The task is the request's first two messages (system and
 * issue), the turn the number of assistant messages it carries, so a re-run after a crash or a
 * retry starts its script over; past the end, the last step repeats.
 */
export function scriptByTask(stepsFor: (task: string) => ScriptStep[]): (request: RecordedRequest) => ScriptStep {
  return (request) => {
    const messages = request.body.messages as Array<{ role: string }>;
    const steps = stepsFor(JSON.stringify(messages.slice(0, 2)));
    return steps[Math.min(messages.filter((m) => m.role === "assistant").length, steps.length - 1)]!;
  };
}
