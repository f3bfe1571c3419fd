import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { RecordedRequest } from "./fake-vllm/index.js";
import { bash, replace, submit, view, type ScriptStep } from "./fake-vllm/index.js";

/**
 * A tiny Node project with a real bug: `add` subtracts. Its test (node:test, run by `npm test`)
 * fails until the bug is fixed. It is a git repository with one commit, so `git diff` shows
 * what the agent changed.
 */
export function createBuggyRepo(base = mkdtempSync(join(tmpdir(), "agent-repo-"))): string {
  const files: Record<string, string> = {
    "package.json": JSON.stringify({ name: "calc", version: "1.0.0", type: "module", scripts: { test: "node --test" } }, null, 2) + "\n",
    "src/add.js": "export function add(a, b) {\n  return a - b;\n}\n",
    "test/add.test.js": [
      'import { test } from "node:test";',
      'import assert from "node:assert/strict";',
      'import { add } from "../src/add.js";',
      "",
      'test("adds two numbers", () => {',
      "  assert.equal(add(2, 3), 5);",
      "});",
      "",
    ].join("\n"),
    "AGENTS.md": "Run the tests with `npm test`. Keep changes small.\n",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(base, path)), { recursive: true });
    writeFileSync(join(base, path), text);
  }
  git(base, "init", "-q", "-b", "main");
  git(base, "add", "-A");
  git(base, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "initial");
  return base;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, GIT_CONFIG_NOSYSTEM: "1" } });
}

/** The environment the agent's commands get in tests: a PATH that has node and npm, a HOME of their own. */
export function testBaseEnv(home: string): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8", npm_config_update_notifier: "false", npm_config_fund: "false" };
}

/** The model's side of a fix: explore, reproduce, edit, re-run the tests, submit. */
export function fixScript(): ScriptStep[] {
  return [
    view(".", { reasoning: "Let me see what is in the repository." }),
    bash("npm test", { reasoning: "First I reproduce the failure." }),
    view("src/add.js", { reasoning: "The add test fails; look at add." }),
    replace("src/add.js", "  return a - b;", "  return a + b;", { reasoning: "add subtracts instead of adding." }),
    bash("npm test", { reasoning: "Run the tests again." }),
    submit("Fixed add() in src/add.js: it subtracted instead of adding. npm test passes.", { reasoning: "Tests pass; done." }),
  ];
}

/** Requests made by the agent itself (not the condensation summarizer, which sends no tools). */
export function isAgentRequest(req: RecordedRequest): boolean {
  const system = String(req.body?.messages?.[0]?.content ?? "");
  return Array.isArray(req.body?.tools) || system.includes("---- BEGIN FUNCTION #1");
}

/** The last message the client sent, as text. */
export function lastSent(req: RecordedRequest): string {
  const messages = req.body.messages as Array<{ content: string }>;
  return messages[messages.length - 1].content;
}

/**
 * Prefix stability: every agent request's messages start with the previous agent request's
 * messages, byte for byte (compared on the raw JSON as sent). Pairs across a condensation are
 * returned apart. Returns the share of each request's message bytes shared with the previous.
 */
export function prefixReport(requests: readonly RecordedRequest[], condensedBefore: ReadonlySet<number> = new Set()) {
  const agent = requests.filter(isAgentRequest);
  const stable: number[] = [];
  const broken: number[] = [];
  const acrossCondensation: number[] = [];
  for (let i = 1; i < agent.length; i++) {
    const prev = messagesJson(agent[i - 1].rawBody);
    const cur = messagesJson(agent[i].rawBody);
    const prevOpen = prev.slice(0, -1); // without the closing "]"
    let common = 0;
    while (common < prevOpen.length && prevOpen.charCodeAt(common) === cur.charCodeAt(common)) common++;
    if (condensedBefore.has(i)) acrossCondensation.push(common / prevOpen.length);
    else if (common === prevOpen.length) stable.push(common / cur.length);
    else broken.push(i);
  }
  return { agentRequests: agent.length, stable, broken, acrossCondensation };
}

/** The `"messages":[...]` part of a raw request body, as sent (JSON.stringify keeps key order). */
export function messagesJson(rawBody: string): string {
  const body = JSON.parse(rawBody) as { messages: unknown };
  return JSON.stringify(body.messages);
}
