import { afterEach, describe, expect, test } from "@jest/globals";
import OpenAI from "openai";
import { call, fault, say, startFakeVllm, type FakeVllm, type FakeVllmOptions } from "../support/fake-vllm/index.js";

// The fake vLLM is shared test infrastructure: these tests pin the behaviour other suites rely on.

const servers: FakeVllm[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function fake(options: FakeVllmOptions = {}) {
  const s = await startFakeVllm(options);
  servers.push(s);
  return s;
}
const sdk = (url: string) => new OpenAI({ baseURL: url, apiKey: "EMPTY", maxRetries: 0, timeout: 5000 });

describe("fake vLLM", () => {
  test("streaming: reasoning, content and tool-call deltas, and a usage chunk", async () => {
    const vllm = await fake({ reasoningFormat: "reasoning_content", script: [call("execute_bash", { command: "ls -la" }, { reasoning: "list the files", content: "ok" })] });
    const stream = await sdk(vllm.url).chat.completions.create({
      model: "IQuestLab/IQuest-Coder-V1-40B-Thinking",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let reasoning = "";
    let content = "";
    let args = "";
    let name = "";
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      const delta = choice.delta as { reasoning_content?: string; content?: string | null };
      reasoning += delta.reasoning_content ?? "";
      content += delta.content ?? "";
      for (const tc of choice.delta.tool_calls ?? []) {
        name += tc.function?.name ?? "";
        args += tc.function?.arguments ?? "";
      }
      finish = choice.finish_reason ?? finish;
    }
    expect({ reasoning, content, name, args: JSON.parse(args), finish }).toEqual({
      reasoning: "list the files",
      content: "ok",
      name: "execute_bash",
      args: { command: "ls -la" },
      finish: "tool_calls",
    });
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
  });

  test("/v1/models reports max_model_len; /health and /metrics answer like vLLM", async () => {
    const vllm = await fake({ maxModelLen: 65536, metrics: { waiting: 3, kvCacheUsage: 0.42 } });
    const models = await (await fetch(`${vllm.url}/models`)).json();
    expect(models.data[0]).toMatchObject({ id: "IQuestLab/IQuest-Coder-V1-40B-Thinking", max_model_len: 65536 });
    expect((await fetch(`${vllm.origin}/health`)).status).toBe(200);
    vllm.setHealthy(false);
    expect((await fetch(`${vllm.origin}/health`)).status).toBe(503);
    const metrics = await (await fetch(`${vllm.origin}/metrics`)).text();
    expect(metrics).toContain('vllm:num_requests_running{model_name="IQuestLab/IQuest-Coder-V1-40B-Thinking"} 0');
    expect(metrics).toContain('vllm:num_requests_waiting{model_name="IQuestLab/IQuest-Coder-V1-40B-Thinking"} 3');
    expect(metrics).toContain('vllm:kv_cache_usage_perc{model_name="IQuestLab/IQuest-Coder-V1-40B-Thinking"} 0.42');
    expect(metrics).toMatch(/# TYPE vllm:prefix_cache_hits_total counter/);
  });

  test("requests in flight show in num_requests_running; prefix-cache counters grow with shared prefixes", async () => {
    const vllm = await fake({ script: [fault.hang()] });
    const controller = new AbortController();
    const pending = sdk(vllm.url)
      .chat.completions.create({ model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", messages: [{ role: "user", content: "x".repeat(400) }] }, { signal: controller.signal })
      .catch(() => undefined);
    for (let i = 0; i < 100 && vllm.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await (await fetch(`${vllm.origin}/metrics`)).text()).toMatch(/vllm:num_requests_running\{[^}]*\} 1\n/);
    controller.abort();
    await pending;
    vllm.push(say("a"));
    await sdk(vllm.url).chat.completions.create({ model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", messages: [{ role: "user", content: "x".repeat(400) }] });
    const hits = Number(/vllm:prefix_cache_hits_total\{[^}]*\} (\d+)/.exec(await (await fetch(`${vllm.origin}/metrics`)).text())![1]);
    expect(hits).toBeGreaterThanOrEqual(100);
  });

  test("a script function sees each request; the records keep headers and raw bodies; an exhausted script says so", async () => {
    const seen: number[] = [];
    const vllm = await fake({
      script: (req) => {
        seen.push(req.index);
        return req.index === 0 ? say(`you said ${req.body.messages[0].content}`) : { kind: "error", status: 418, message: "no more" };
      },
    });
    const client = sdk(vllm.url);
    const r = await client.chat.completions.create(
      { model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", messages: [{ role: "user", content: "ping" }] },
      { headers: { "x-session-id": "s-1" } },
    );
    expect(r.choices[0].message.content).toBe("you said ping");
    await expect(client.chat.completions.create({ model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", messages: [] })).rejects.toMatchObject({ status: 418 });
    expect(seen).toEqual([0, 1]);
    expect(vllm.requests[0]).toMatchObject({ index: 0, path: "/v1/chat/completions", answer: 200, headers: { "x-session-id": "s-1" } });
    expect(JSON.parse(vllm.requests[0].rawBody)).toEqual(vllm.requests[0].body);

    const empty = await fake({ script: [] });
    await expect(sdk(empty.url).chat.completions.create({ model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", messages: [{ role: "user", content: "x" }] })).rejects.toThrow(
      /script has no reply for request #0/,
    );
  });

  test("enforceMaxModelLen rejects an oversized request as vLLM does", async () => {
    const vllm = await fake({ maxModelLen: 100, enforceMaxModelLen: true, script: [say("never")] });
    await expect(
      sdk(vllm.url).chat.completions.create({ model: "IQuestLab/IQuest-Coder-V1-40B-Thinking", messages: [{ role: "user", content: "x".repeat(1000) }], max_tokens: 10 }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/maximum context length is 100 tokens/) });
    expect(vllm.remaining()).toBe(1);
  });
});
