import { describe, expect, test } from "@jest/globals";
import type { IncomingMessage } from "node:http";
import { checkBasicAuth, isSameOrigin } from "../../src/ops/basic-auth.js";
import { renderEjsTemplate } from "../../src/ops/bull-board-adapter.js";
import { escapeHtml, formatMs, renderRecords, runStatus } from "../../src/ops/run-page.js";
import { isLoopback } from "../../src/ops/worker-http.js";
import { createRedactor } from "../../src/shared/redact.js";

const creds = { username: "ops", password: "correct-horse-battery" };
const header = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe("HTTP Basic for the operator pages", () => {
  test("accepts exactly the configured login", () => {
    expect(checkBasicAuth(header("ops", "correct-horse-battery"), creds)).toBe(true);
    expect(checkBasicAuth(header("ops", "correct-horse-batter"), creds)).toBe(false);
    expect(checkBasicAuth(header("Ops", "correct-horse-battery"), creds)).toBe(false);
    expect(checkBasicAuth(header("ops", "correct-horse-battery:"), creds)).toBe(false);
    // A colon in the password is part of the password.
    expect(checkBasicAuth(header("ops", "a:b"), { username: "ops", password: "a:b" })).toBe(true);
    expect(checkBasicAuth(undefined, creds)).toBe(false);
    expect(checkBasicAuth("Bearer abc", creds)).toBe(false);
    expect(checkBasicAuth(`Basic ${Buffer.from("no-colon").toString("base64")}`, creds)).toBe(false);
  });

  test("state changes must come from our own origin", () => {
    expect(isSameOrigin(req({ host: "bot.example.com", origin: "https://bot.example.com" }))).toBe(true);
    expect(isSameOrigin(req({ host: "bot.example.com", origin: "https://evil.example.com" }))).toBe(false);
    expect(isSameOrigin(req({ host: "bot.example.com", "sec-fetch-site": "cross-site" }))).toBe(false);
    expect(isSameOrigin(req({ host: "bot.example.com", "sec-fetch-site": "same-site" }))).toBe(false);
    expect(isSameOrigin(req({ host: "bot.example.com", origin: "null" }))).toBe(false);
    // curl and scripts send no Origin: they hold the credentials themselves, nothing to forge.
    expect(isSameOrigin(req({ host: "bot.example.com" }))).toBe(true);
  });
});

describe("the Bull Board entry template", () => {
  test("<%= %> escapes, <%- %> does not, anything else is refused", () => {
    expect(renderEjsTemplate('<title><%= title %></title><script><%- cfg %></script>', { title: '<a href="x">', cfg: '{"a":1}' })).toBe(
      '<title>&lt;a href=&#34;x&#34;&gt;</title><script>{"a":1}</script>',
    );
    expect(() => renderEjsTemplate("<% if (x) { %>", {})).toThrow(/does not support/);
  });
});

describe("run page helpers", () => {
  test("escapes HTML and formats durations", () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&`)).toBe("&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;");
    expect(formatMs(850.4)).toBe("850 ms");
    expect(formatMs(1234)).toBe("1.2 s");
    expect(formatMs(125_000)).toBe("2 min 5 s");
  });

  test("status: waiting, running with totals, finished with the outcome", () => {
    expect(runStatus([]).state).toBe("waiting");
    const start = { type: "run-start" as const, runId: "r", startedAt: new Date(1000).toISOString(), budgets: { maxSteps: 5 } };
    const step = { type: "step" as const, step: 2, totalUsage: { totalTokens: 40 } };
    expect(runStatus([start, step], 4000)).toMatchObject({ state: "running", steps: 2, tokens: 40, elapsedMs: 3000, runId: "r" });
    const end = { type: "end" as const, outcome: { kind: "budget-exhausted", budget: "steps" }, usage: { totalTokens: 50 }, durationMs: 2500 };
    expect(runStatus([start, step, end])).toMatchObject({ state: "finished", tokens: 50, elapsedMs: 2500, outcome: { kind: "budget-exhausted" } });
  });

  test("a record that is not a step or a condensation renders nothing; unknown fields are ignored", () => {
    const redact = createRedactor();
    expect(renderRecords([{ type: "end", future: true } as never], 0, redact)).toBe("");
    const html = renderRecords([{ type: "step", step: 1, action: { kind: "no-call" }, observation: "x", extra: 1 } as never], 0, redact);
    expect(html).toContain("no tool call");
  });
});

test("the worker's /drain takes orders from inside the pod only", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(a)).toBe(true);
  for (const a of ["10.0.0.5", "::ffff:10.0.0.5", "fe80::1", "", undefined]) expect(isLoopback(a)).toBe(false);
});
