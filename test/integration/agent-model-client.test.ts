import { afterEach, describe, expect, test } from "@jest/globals";
import { createServer } from "node:net";
import { ContextLengthError, ModelRequestError, ModelUnavailableError } from "../../src/agent/model/errors.js";
import type { ModelClientInput } from "../../src/agent/model/options.js";
import type { ChatMessage, ToolSpec } from "../../src/agent/model/types.js";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import { CancelledError } from "../../src/shared/errors.js";
import {
  call,
  fault,
  malformed,
  say,
  startFakeVllm,
  truncatedThinking,
  type FakeVllm,
  type FakeVllmOptions,
  type ReasoningFormat,
} from "../support/fake-vllm/index.js";

const TOOLS: ToolSpec[] = [
  {
    name: "execute_bash",
    description: "Run a command.",
    parameters: { type: "object", properties: { command: { type: "string", description: "the command" } }, required: ["command"] },
  },
];
const HISTORY: ChatMessage[] = [
  { role: "system", content: "You are a test." },
  { role: "user", content: "List the files." },
];

const servers: FakeVllm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fake(options: FakeVllmOptions): Promise<FakeVllm> {
  const s = await startFakeVllm(options);
  servers.push(s);
  return s;
}

function client(urls: string | string[], extra: Partial<ModelClientInput> = {}) {
  return createVllmClient({
    baseUrls: Array.isArray(urls) ? urls : [urls],
    retryBaseDelayMs: 5,
    maxRetries: 2,
    timeoutMs: 5000,
    startIndex: 0,
    ...extra,
  });
}

/** A URL where nothing listens: bind a port, then free it. */
async function deadUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}/v1`;
}

describe("reasoning formats", () => {
  test.each<ReasoningFormat>(["reasoning", "reasoning_content", "think-inline", "think-close-only"])(
    "%s: reasoning separated from the answer, call parsed",
    async (format) => {
      const vllm = await fake({ reasoningFormat: format, script: [call("execute_bash", { command: "ls -la" }, { reasoning: "I should list the files." })] });
      const c = await client(vllm.url).complete(HISTORY, TOOLS);
      expect(c.reasoning).toBe("I should list the files.");
      expect(c.content).not.toContain("think>");
      expect(c.toolCalls).toHaveLength(1);
      expect(c.toolCalls[0]).toMatchObject({ name: "execute_bash", args: { command: "ls -la" }, protocol: "native" });
      expect(c.truncatedInThinking).toBe(false);
      expect(c.message.reasoning).toBe("I should list the files.");
    },
  );

  test.each<ReasoningFormat>(["reasoning", "reasoning_content", "think-inline"])(
    "%s: cut off by max_tokens while thinking is a truncated turn",
    async (format) => {
      const vllm = await fake({ reasoningFormat: format, script: [truncatedThinking("Hmm, first I need to consider")] });
      const c = await client(vllm.url).complete(HISTORY, TOOLS);
      expect(c.finishReason).toBe("length");
      expect(c.truncatedInThinking).toBe(true);
      expect(c.reasoning).toBe("Hmm, first I need to consider");
      expect(c.content).toBe("");
      expect(c.toolCalls).toEqual([]);
    },
  );

  test("past reasoning goes back under the field `reasoning`", async () => {
    const vllm = await fake({ reasoningFormat: "reasoning_content", script: [call("execute_bash", { command: "ls" }, { reasoning: "think A" }), say("ok")] });
    const m = client(vllm.url);
    const first = await m.complete(HISTORY, TOOLS);
    const history: ChatMessage[] = [
      ...HISTORY,
      first.message,
      { role: "tool", toolCallId: first.toolCalls[0].id, name: "execute_bash", content: "a.txt", protocol: "native" },
    ];
    await m.complete(history, TOOLS);
    const sent = vllm.requests[1].body.messages[2];
    expect(sent).toEqual({
      role: "assistant",
      content: "",
      reasoning: "think A",
      tool_calls: [{ id: first.toolCalls[0].id, type: "function", function: { name: "execute_bash", arguments: '{"command":"ls"}' } }],
    });
    expect(vllm.requests[1].body.messages[3]).toEqual({ role: "tool", tool_call_id: first.toolCalls[0].id, content: "a.txt" });
  });
});

describe("request", () => {
  test("sampling, vLLM extras, tools and a stable x-session-id", async () => {
    const vllm = await fake({ script: [say("a"), say("b")] });
    const m = client(vllm.url, {
      sampling: { temperature: 0.7, top_p: 0.9, top_k: 40, max_tokens: 1234 },
      enableThinking: true,
      cacheSalt: "tenant-1",
    });
    await m.complete(HISTORY, TOOLS);
    await m.complete(HISTORY, TOOLS);
    const [a, b] = vllm.requests;
    expect(a.body).toMatchObject({
      model: "IQuestLab/IQuest-Coder-V1-40B-Thinking",
      temperature: 0.7,
      top_p: 0.9,
      top_k: 40,
      max_tokens: 1234,
      chat_template_kwargs: { enable_thinking: true },
      cache_salt: "tenant-1",
      tool_choice: "auto",
      // Every call streams (stream.ts): the usage comes in the last chunk.
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(a.body.tools[0]).toEqual({ type: "function", function: TOOLS[0] });
    expect(a.headers["x-session-id"]).toBe(m.sessionId);
    expect(b.headers["x-session-id"]).toBe(m.sessionId);
    expect(a.headers.authorization).toBe("Bearer EMPTY");
  });

  test("defaults: IQuest sampling and 16K max_tokens", async () => {
    const vllm = await fake({ script: [say("a")] });
    await client(vllm.url).complete(HISTORY, TOOLS);
    expect(vllm.requests[0].body).toMatchObject({ temperature: 0.6, top_p: 0.85, top_k: 20, max_tokens: 16384 });
    expect(vllm.requests[0].body.chat_template_kwargs).toBeUndefined();
  });

  test("text protocol: tools described in the system prompt, no `tools`, results as user messages", async () => {
    const vllm = await fake({ toolProtocol: "text", script: [call("execute_bash", { command: "echo hi" }, { content: "Let me look." }), say("done")] });
    const m = client(vllm.url, { protocol: "text" });
    const first = await m.complete(HISTORY, TOOLS);
    expect(first.content).toContain("Let me look.");
    expect(first.toolCalls).toEqual([
      expect.objectContaining({ name: "execute_bash", args: { command: "echo hi" }, protocol: "text" }),
    ]);
    await m.complete(
      [...HISTORY, first.message, { role: "tool", toolCallId: first.toolCalls[0].id, name: "execute_bash", content: "hi", protocol: "text" }],
      TOOLS,
    );
    const req = vllm.requests[1].body;
    expect(req.tools).toBeUndefined();
    expect(req.messages[0].content).toContain("You are a test.");
    expect(req.messages[0].content).toContain("---- BEGIN FUNCTION #1: execute_bash ----");
    expect(req.messages[0].content).toContain("(1) command (string, required): the command");
    expect(req.messages[2]).toEqual({ role: "assistant", content: first.content, reasoning: first.reasoning });
    expect(req.messages[2].tool_calls).toBeUndefined();
    expect(req.messages[3]).toEqual({ role: "user", content: "EXECUTION RESULT of [execute_bash]:\nhi" });
    // The system message is byte-identical from one request to the next.
    expect(vllm.requests[0].body.messages[0]).toEqual(req.messages[0]);
  });

  test("native mode falls back to a text-protocol call the server's parser missed", async () => {
    const vllm = await fake({ script: [{ content: "<function=execute_bash>\n<parameter=command>\nls\n</parameter>\n</function>" }] });
    const c = await client(vllm.url).complete(HISTORY, TOOLS);
    expect(c.toolCalls).toEqual([expect.objectContaining({ name: "execute_bash", args: { command: "ls" }, protocol: "text" })]);
  });

  test("malformed native arguments: an error on the call, and `{}` in the history so later requests stay valid", async () => {
    const vllm = await fake({ script: [malformed.badArguments()] });
    const c = await client(vllm.url).complete(HISTORY, TOOLS);
    expect(c.toolCalls[0].error).toMatch(/not valid JSON/);
    expect(c.toolCalls[0].arguments).toBe('{"command": "ls"');
    expect(c.toolCalls[0].args).toBeUndefined();
    expect(c.message.toolCalls?.[0].arguments).toBe("{}");
  });

  test("context window from /v1/models max_model_len, or the configured value, or unknown", async () => {
    const a = await fake({ maxModelLen: 32768 });
    expect(await client(a.url).contextWindow()).toBe(32768);
    const b = await fake({ maxModelLen: null });
    expect(await client(b.url).contextWindow()).toBeUndefined();
    expect(await client(b.url, { contextWindow: 4096 }).contextWindow()).toBe(4096);
    expect(await client(await deadUrl()).contextWindow()).toBeUndefined();
  });
});

describe("errors and retries", () => {
  test("429 waits for retry-after, then succeeds", async () => {
    const vllm = await fake({ script: [fault.rateLimit(1), say("ok")] });
    const started = Date.now();
    const c = await client(vllm.url).complete(HISTORY, TOOLS);
    expect(c.content).toBe("ok");
    expect(c.attempts).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(vllm.requests.map((r) => r.answer)).toEqual([429, 200]);
  });

  test("a retry-after longer than allowed gives up at once, saying so", async () => {
    const vllm = await fake({ script: [fault.rateLimit(3600), say("never")] });
    const started = Date.now();
    const err = await client(vllm.url, { retryMaxDelayMs: 5000 }).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as ModelUnavailableError).reason).toBe("rate-limited");
    expect((err as Error).message).toMatch(/asked to wait 3600 s/);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(vllm.requests).toHaveLength(1);
  });

  test("5xx is retried with backoff and recovers", async () => {
    const vllm = await fake({ script: [fault.serverError(500), fault.serverError(503), say("ok")] });
    const c = await client(vllm.url).complete(HISTORY, TOOLS);
    expect(c.content).toBe("ok");
    expect(vllm.requests.map((r) => r.answer)).toEqual([500, 503, 200]);
  });

  test("5xx that never stops: ModelUnavailableError after maxRetries + 1 attempts", async () => {
    const vllm = await fake({ script: () => fault.serverError(500) });
    const err = await client(vllm.url, { maxRetries: 2 }).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect(err).toMatchObject({ reason: "server-error", attempts: 3, next: "retry" });
    expect(vllm.requests).toHaveLength(3);
  });

  test("a hang past the per-call timeout is retried, then reported as a timeout", async () => {
    const vllm = await fake({ script: () => fault.hang() });
    const started = Date.now();
    const err = await client(vllm.url, { timeoutMs: 300, maxRetries: 1 }).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as ModelUnavailableError).reason).toBe("timeout");
    expect(vllm.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test("nothing listening: a ModelUnavailableError a maintainer can act on", async () => {
    const url = await deadUrl();
    const err = await client(url, { maxRetries: 1 }).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as ModelUnavailableError).reason).toBe("connection");
    expect((err as Error).message).toContain(url);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as ModelUnavailableError).userMessage).toMatch(/MODEL_BASE_URL/);
  });

  test("a dropped connection is retried", async () => {
    const vllm = await fake({ script: [fault.drop(), say("ok")] });
    const c = await client(vllm.url).complete(HISTORY, TOOLS);
    expect(c.content).toBe("ok");
    expect(vllm.requests.map((r) => r.answer)).toEqual(["drop", 200]);
  });

  test("fails over from a dead URL to a live one, and stays there", async () => {
    const dead = await deadUrl();
    const vllm = await fake({ script: [say("one"), say("two")] });
    const m = client([dead, vllm.url], { maxRetries: 0 });
    const a = await m.complete(HISTORY, TOOLS);
    expect(a.content).toBe("one");
    expect(a.endpoint).toBe(vllm.url);
    expect(a.attempts).toBe(2);
    const b = await m.complete(HISTORY, TOOLS);
    expect(b.attempts).toBe(1);
    expect(b.endpoint).toBe(vllm.url);
  });

  test("a 5xx on one URL moves to the next", async () => {
    const bad = await fake({ script: () => fault.serverError(502) });
    const good = await fake({ script: [say("ok")] });
    const c = await client([bad.url, good.url]).complete(HISTORY, TOOLS);
    expect(c.endpoint).toBe(good.url);
    expect(bad.requests).toHaveLength(1);
  });

  test("context-length 400: ContextLengthError with the window, no retry", async () => {
    const vllm = await fake({ script: [fault.contextOverflow(8192), say("never")] });
    const err = await client(vllm.url).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextLengthError);
    expect((err as ContextLengthError).maxContextTokens).toBe(8192);
    expect(vllm.requests).toHaveLength(1);
  });

  test("401: ModelRequestError pointing at MODEL_API_KEY, no retry", async () => {
    const vllm = await fake({ script: [{ kind: "error", status: 401, message: "invalid api key" }] });
    const err = await client(vllm.url, { apiKey: "wrong-key-123456" }).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRequestError);
    expect((err as Error).message).toMatch(/MODEL_API_KEY/);
    expect(vllm.requests[0].headers.authorization).toBe("Bearer wrong-key-123456");
    expect(vllm.requests).toHaveLength(1);
  });

  test("unknown model name: ModelRequestError pointing at MODEL_NAME", async () => {
    const vllm = await fake({});
    const err = await client(vllm.url, { model: "no/such-model" }).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRequestError);
    expect((err as Error).message).toMatch(/MODEL_NAME/);
    expect((err as Error).message).toMatch(/does not exist/);
  });

  test("an unreadable answer is a ModelRequestError, not a crash", async () => {
    const vllm = await fake({ script: [fault.unreadable()] });
    const err = await client(vllm.url).complete(HISTORY, TOOLS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRequestError);
  });

  test("abort during a hanging call: CancelledError at once", async () => {
    const vllm = await fake({ script: () => fault.hang() });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort("stop"), 100);
    const err = await client(vllm.url).complete(HISTORY, TOOLS, { signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as CancelledError).reason).toBe("stop");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test("abort during a retry-after wait: CancelledError at once", async () => {
    const vllm = await fake({ script: [fault.rateLimit(30), say("never")] });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort("shutdown"), 150);
    const err = await client(vllm.url).complete(HISTORY, TOOLS, { signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as CancelledError).reason).toBe("shutdown");
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe("prefix stability at the wire", () => {
  test("appending to the history keeps the previous request's messages as a byte prefix", async () => {
    const vllm = await fake({ script: [call("execute_bash", { command: "ls" }), call("execute_bash", { command: "cat a" }), say("x")] });
    const m = client(vllm.url);
    const history: ChatMessage[] = [...HISTORY];
    for (let i = 0; i < 3; i++) {
      const c = await m.complete(history, TOOLS);
      history.push(c.message);
      for (const tc of c.toolCalls) history.push({ role: "tool", toolCallId: tc.id, name: tc.name, content: `out ${i}`, protocol: tc.protocol });
    }
    for (let i = 1; i < vllm.requests.length; i++) {
      const prev = JSON.stringify(vllm.requests[i - 1].body.messages);
      const cur = JSON.stringify(vllm.requests[i].body.messages);
      expect(cur.startsWith(prev.slice(0, -1))).toBe(true);
      expect(cur.length).toBeGreaterThan(prev.length);
    }
  });
});
