import { afterEach, describe, expect, test } from "@jest/globals";
import { connect, createServer, type Server, type Socket } from "node:net";
import { ModelUnavailableError } from "../../src/agent/model/errors.js";
import type { ModelClientInput } from "../../src/agent/model/options.js";
import type { ChatMessage } from "../../src/agent/model/types.js";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import { rmSync } from "node:fs";
import { createBuggyRepo } from "../support/agent-fixtures.js";
import { runCliWithModel } from "../support/cli-run.js";
import { call, say, startFakeVllm, submit, type FakeVllm, type FakeVllmOptions } from "../support/fake-vllm/index.js";

/**
 * Every model call streams: a slow but live generation longer than the timeout finishes (the
 * timeout is for silence, not for the whole answer), a stalled server is cut after the timeout
 * without a chunk, the answer assembled from chunks is the one a plain response gives (content,
 * reasoning, tool calls, usage), progress is reported as it streams, and a proxy that drops idle
 * connections after a second does not cut a long streamed call.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const HISTORY: ChatMessage[] = [
  { role: "system", content: "You are a coding agent." },
  { role: "user", content: "Fix the bug." },
];
const LONG = "Let me think this through carefully, one step at a time. ".repeat(6); // ~340 chars → ~85 pieces

async function fake(script: NonNullable<FakeVllmOptions["script"]>): Promise<FakeVllm> {
  const vllm = await startFakeVllm({ script });
  cleanups.push(() => vllm.close());
  return vllm;
}

function client(url: string, extra: Partial<ModelClientInput> = {}) {
  return createVllmClient({ baseUrls: [url], model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", protocol: "native", maxRetries: 0, retryBaseDelayMs: 10, ...extra });
}

/** A TCP proxy that closes a connection after `idleMs` without a byte either way (as many ingresses do). */
async function idleDroppingProxy(target: string, idleMs: number): Promise<{ url: string; dropped: () => number }> {
  const { hostname, port } = new URL(target);
  let dropped = 0;
  const server: Server = createServer((client: Socket) => {
    const upstream = connect({ host: hostname, port: Number(port) });
    let timer = setTimeout(drop, idleMs);
    function drop() {
      dropped++;
      client.destroy();
      upstream.destroy();
    }
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(drop, idleMs);
    };
    client.on("data", (d) => (touch(), upstream.write(d)));
    upstream.on("data", (d) => (touch(), client.write(d)));
    const end = () => (clearTimeout(timer), client.destroy(), upstream.destroy());
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/v1`, dropped: () => dropped };
}

describe("streamed model calls", () => {
  test("a slow but live answer longer than the timeout finishes: the limit is on silence, not on the whole call", async () => {
    const vllm = await fake([{ ...say("Done: the fix is in add().", { reasoning: LONG }), streamDelayMs: 25 }]);
    const progress: number[] = [];
    const started = Date.now();
    const answer = await client(vllm.url, { timeoutMs: 1000 }).complete(HISTORY, [], { onProgress: (p) => progress.push(p.chars) });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(1500); // longer than the 1 s limit…
    expect(answer.content).toBe("Done: the fix is in add().");
    expect(answer.reasoning).toBe(LONG);
    expect(answer.usage.totalTokens).toBeGreaterThan(0);
    // …and the caller saw it arrive.
    expect(progress.length).toBeGreaterThan(50);
    expect(progress.at(-1)).toBe(LONG.length + "Done: the fix is in add().".length);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  }, 30_000);

  test("a server that stalls mid-answer is cut after the timeout without a chunk", async () => {
    const vllm = await fake([{ ...say("never finished", { reasoning: LONG }), streamDelayMs: 10, stallAfterChunks: 5 }]);
    const started = Date.now();
    const err = await client(vllm.url, { timeoutMs: 700 }).complete(HISTORY, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as Error).message).toMatch(/nothing from .* for 700 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 30_000);

  test("tool calls assembled from their pieces are the same as from a plain response", async () => {
    const vllm = await fake([call("str_replace_editor", { command: "view", path: "src/add.js" }, { reasoning: "Look first." })]);
    const answer = await client(vllm.url).complete(HISTORY, [
      { name: "str_replace_editor", description: "edit", parameters: { type: "object", properties: { command: { type: "string" }, path: { type: "string" } } } },
    ]);
    expect(answer.toolCalls).toEqual([expect.objectContaining({ name: "str_replace_editor", args: { command: "view", path: "src/add.js" } })]);
    expect(answer.reasoning).toBe("Look first.");
    expect(answer.finishReason).toBe("tool_calls");
  });

  test("through a proxy that drops connections idle for 1 s, a 3 s streamed answer survives; a stalled one is cut", async () => {
    const vllm = await fake([
      { ...say("survived", { reasoning: LONG }), streamDelayMs: 35 },
      { ...say("stalled", { reasoning: LONG }), streamDelayMs: 10, stallAfterChunks: 3 },
    ]);
    const proxy = await idleDroppingProxy(vllm.url, 1000);
    const started = Date.now();
    const answer = await client(proxy.url, { timeoutMs: 5000 }).complete(HISTORY, []);
    expect(Date.now() - started).toBeGreaterThan(2500);
    expect(answer.content).toBe("survived");
    expect(proxy.dropped()).toBe(0);
    const before = proxy.dropped();
    const err = await client(proxy.url, { timeoutMs: 5000 }).complete(HISTORY, []).catch((e: unknown) => e);
    // Cut by the proxy after 1 s of silence (not by our 5 s limit), and reported as a broken
    // connection (retried per the rules; here maxRetries is 0), not taken for an answer.
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as Error).message).toMatch(/stopped before it ended/);
    expect(proxy.dropped()).toBeGreaterThan(before);
  }, 30_000);

  test("live progress: `iquest-bot fix --events` reports the answer as it streams in, before the step ends", async () => {
    const repo = createBuggyRepo();
    cleanups.push(() => rmSync(repo, { recursive: true, force: true }));
    const slow = { ...submit("Nothing to change."), reasoning: LONG.repeat(2), streamDelayMs: 20 };
    const r = await runCliWithModel(repo, ["fix", "--repo", repo, "--issue-text", "look", "--no-setup", "--events"], [slow]);
    expect({ code: r.code, err: r.code ? r.err.slice(-1500) : "" }).toEqual({ code: 0, err: "" });
    const events = r.out.trim().split("\n").map((l) => JSON.parse(l) as { type: string; chars?: number; step?: number });
    const answering = events.filter((e) => e.type === "model");
    expect(answering.length).toBeGreaterThanOrEqual(2);
    expect(answering.every((e) => e.step === 1)).toBe(true);
    expect(answering[1]!.chars!).toBeGreaterThan(answering[0]!.chars!);
    // They come before the step they belong to ends.
    const stepAt = events.findIndex((e) => e.type === "step");
    expect(events.findIndex((e) => e.type === "model")).toBeLessThan(stepAt);
  }, 60_000);
});
