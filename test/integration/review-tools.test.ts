import { afterEach, describe, expect, test } from "@jest/globals";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalEnvironment } from "../../src/agent/local-environment.js";
import { runAgent } from "../../src/agent/loop.js";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import type { Finding } from "../../src/jobs/review/finding.js";
import { createReviewTools } from "../../src/jobs/review/tools.js";
import { call, replace, startFakeVllm, submit, type FakeToolProtocol, type FakeVllmOptions } from "../support/fake-vllm/index.js";

/**
 * The reviewer's tools in the real agent loop, against the fake vLLM, in both tool protocols
 * IQuest-Coder is served with: findings arrive structured (multi-line quotes, numbers written as
 * text), a finding the tool cannot anchor is refused with a reason the model sees, the editor is
 * read-only, and the code search works without a shell.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function run(protocol: FakeToolProtocol, allowCommands: boolean, script: FakeVllmOptions["script"]) {
  const root = mkdtempSync(join(tmpdir(), "review-tools-"));
  const home = mkdtempSync(join(tmpdir(), "review-tools-home-"));
  mkdirSync(join(root, "src"));
  writeFileSync(join(root, "src/a.js"), "export function f(xs) {\n  for (let i = 0; i <= xs.length; i++) {\n    use(xs[i]);\n  }\n}\n");
  const vllm = await startFakeVllm({ script, toolProtocol: protocol });
  const env = await createLocalEnvironment({ root, baseEnv: { PATH: "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8" } });
  cleanups.push(async () => {
    await env.close();
    await vllm.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const findings: Finding[] = [];
  const observations: string[] = [];
  const tools = createReviewTools({
    findings,
    observations,
    allowCommands,
    maxReports: 5,
    check: async (f) => (f.quote.includes("does-not-exist") ? { ok: false, problem: "the quoted code is not in the file" } : { ok: true }),
  });
  const model = createVllmClient({ baseUrls: [vllm.url], protocol, retryBaseDelayMs: 5, maxRetries: 1, timeoutMs: 5000, sampling: { max_tokens: 512 } });
  const result = await runAgent({ model, environment: env, systemPrompt: "Review.", taskPrompt: "Review the diff.", tools, budgets: { maxSteps: 10 } });
  return { result, findings, observations, vllm, tools, root };
}

const observationsSeen = (vllm: Awaited<ReturnType<typeof startFakeVllm>>) =>
  vllm.requests.flatMap((r) => (r.body.messages as Array<{ role: string; content: string }>).slice(-1).map((m) => m.content));

describe.each(["native", "text"] as const)("the reviewer's tools (%s protocol)", (protocol) => {
  test("a finding arrives structured; an unanchored one is refused with its reason; the editor cannot write; search works", async () => {
    const { result, findings, vllm, root } = await run(protocol, false, [
      call("search_code", { pattern: "xs\\.length" }),
      replace("src/a.js", "<=", "<"),
      call("report_finding", { path: "./src/a.js", line: "3", start_line: "2", severity: "High", title: "Reads past the end", explanation: "`<=` goes one too far.", quote: "  for (let i = 0; i <= xs.length; i++) {\n    use(xs[i]);" }),
      call("report_finding", { path: "src/a.js", line: 2, severity: "major", title: "Invented", explanation: "x", quote: "does-not-exist" }),
      submit("Loops over xs."),
    ]);
    expect(result.outcome).toEqual({ kind: "submitted", summary: "Loops over xs." });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ path: "src/a.js", line: 3, startLine: 2, severity: "major", quote: "  for (let i = 0; i <= xs.length; i++) {\n    use(xs[i]);" });
    const seen = observationsSeen(vllm);
    expect(seen[1]).toContain("src/a.js:2:");
    expect(seen[2]).toMatch(/this is a review; files cannot be changed/);
    expect(seen[3]).toContain("Recorded finding 1.");
    expect(seen[4]).toContain("not recorded: the quoted code is not in the file");
    // Nothing was written.
    expect(readFileSync(join(root, "src/a.js"), "utf8")).toContain("i <= xs.length");
  });

  test("without tests allowed there is no shell; with them, command output is kept for the evidence check", async () => {
    const without = await run(protocol, false, [call("execute_bash", { command: "echo hi" }), submit()]);
    expect(observationsSeen(without.vllm)[1]).toContain('there is no tool named "execute_bash"');
    expect(without.tools.map((t) => t.spec.name)).toEqual(["str_replace_editor", "search_code", "report_finding", "submit"]);
    const withShell = await run(protocol, true, [call("execute_bash", { command: "echo evidence-line" }), submit()]);
    expect(withShell.observations.some((o) => o.includes("evidence-line"))).toBe(true);
  });
});
