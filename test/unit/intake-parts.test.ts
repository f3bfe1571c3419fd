import type { IncomingMessage } from "node:http";
import { describe, expect, test } from "@jest/globals";
import { clientAddress } from "../../src/http/client-address.js";
import { createSummaryLog } from "../../src/http/summary-log.js";
import { createLoginGuard } from "../../src/ops/login-guard.js";
import { describeLimit, parseLimit } from "../../src/rules/limits.js";
import type { PermissionResult } from "../../src/github/permissions.js";
import type { GitHub } from "../../src/github/types.js";
import { createPermissionCache } from "../../src/webhooks/permission-cache.js";
import { scopeOf } from "../../src/webhooks/on-membership-change.js";
import type { Logger } from "../../src/shared/log.js";

/** The pure parts of the front door: limits, summary lines, source addresses, caches, logins. */

function fakeReq(remote: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress: remote }, headers } as unknown as IncomingMessage;
}

function recordingLog() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, fields, msg });
  return { lines, log: { warn: at("warn"), info: at("info") } as unknown as Logger };
}

describe("intake limits as operators write them", () => {
  test.each([
    ["6/10m", { count: 6, windowSeconds: 600 }],
    ["300/1h", { count: 300, windowSeconds: 3600 }],
    [" 20 / 30s ", { count: 20, windowSeconds: 30 }],
    ["off", undefined],
    ["0", undefined],
    ["0/10m", undefined],
  ])("%j → %j", (text, limit) => {
    expect(parseLimit(text)).toEqual(limit);
  });

  test.each(["6", "6/10", "ten/10m", "6/10d", "-1/10m", "6/0m"])("%j is refused with an example of what to write", (text) => {
    expect(() => parseLimit(text)).toThrow(/COUNT\/WINDOW|longer than 0/);
  });

  test("described for people", () => {
    expect(describeLimit({ count: 6, windowSeconds: 600 })).toBe("6 per 10 min");
    expect(describeLimit({ count: 300, windowSeconds: 3600 })).toBe("300 per 1 h");
    expect(describeLimit({ count: 5, windowSeconds: 45 })).toBe("5 per 45 s");
  });
});

describe("summary lines", () => {
  test("one line per reason per flush, with the count, at most N sources and the hint; nothing between flushes", () => {
    const { lines, log } = recordingLog();
    const summary = createSummaryLog({ log, message: "webhook requests rejected", intervalMs: 3600_000, maxSources: 3, hints: { "signature-invalid": "check WEBHOOK_SECRET" } });
    for (let i = 0; i < 10_000; i++) summary.note("signature-invalid", `10.0.0.${i % 50}`);
    summary.note("json", "127.0.0.1", "issues: x".repeat(100));
    expect(lines).toEqual([]);
    summary.flush();
    expect(lines).toHaveLength(2);
    const sig = lines.find((l) => l.fields.reason === "signature-invalid")!;
    expect(sig).toMatchObject({ level: "warn", msg: "webhook requests rejected", fields: { count: 10_000, hint: "check WEBHOOK_SECRET" } });
    expect(sig.fields.sources).toEqual(["10.0.0.0", "10.0.0.1", "10.0.0.2"]);
    expect(String(lines.find((l) => l.fields.reason === "json")!.fields.detail).length).toBeLessThanOrEqual(300);
    summary.flush();
    expect(lines).toHaveLength(2); // nothing new counted, nothing written
    summary.note("json", undefined);
    summary.close();
    expect(lines).toHaveLength(3);
  });
});

describe("source addresses", () => {
  test("the socket's by default: X-Forwarded-For is anyone's to forge", () => {
    expect(clientAddress(fakeReq("10.1.1.1", { "x-forwarded-for": "6.6.6.6" }))).toBe("10.1.1.1");
  });
  test("behind N trusted proxies, the entry N from the right; entries further left are never trusted", () => {
    const req = fakeReq("10.1.1.1", { "x-forwarded-for": "6.6.6.6, 203.0.113.9" });
    expect(clientAddress(req, 1)).toBe("203.0.113.9");
    expect(clientAddress(req, 2)).toBe("6.6.6.6");
    expect(clientAddress(fakeReq("10.1.1.1"), 1)).toBe("10.1.1.1");
  });
});

describe("the permission cache", () => {
  const target = (installationId: number, repoId: number) => ({ installationId, repoId, repo: { owner: "o", repo: `r${repoId}` }, github: {} as GitHub });
  const write: PermissionResult = { ok: true, permission: "write" } as PermissionResult;

  function counting(answer: (user: string) => Promise<PermissionResult> = async () => write) {
    const calls: string[] = [];
    return { calls, fetch: async (_g: GitHub, repo: { repo: string }, user: string) => (calls.push(`${repo.repo}/${user}`), answer(user)) };
  }

  test("one GitHub question per (installation, repository, user) per TTL; logins are case-insensitive; concurrent asks share one", async () => {
    let now = 0;
    const { calls, fetch } = counting();
    const cache = createPermissionCache(fetch, { ttlMs: 30_000, now: () => now });
    await Promise.all([cache.check(target(1, 1), "Alice"), cache.check(target(1, 1), "alice")]);
    await cache.check(target(1, 1), "ALICE");
    await cache.check(target(1, 2), "alice");
    expect(calls).toEqual(["r1/Alice", "r2/alice"]);
    now = 30_000;
    await cache.check(target(1, 1), "alice");
    expect(calls).toHaveLength(3);
  });

  test("failures and refusals are not kept (fail closed, ask again next time)", async () => {
    let fail = true;
    const { calls, fetch } = counting(async () => {
      if (fail) throw new Error("GitHub 502");
      return write;
    });
    const cache = createPermissionCache(fetch, { ttlMs: 30_000 });
    await expect(cache.check(target(1, 1), "bob")).rejects.toThrow("502");
    fail = false;
    await expect(cache.check(target(1, 1), "bob")).resolves.toBe(write);
    expect(calls).toHaveLength(2);
    const denied = createPermissionCache(async () => ({ ok: false }) as PermissionResult, { ttlMs: 30_000 });
    await denied.check(target(1, 1), "x");
    expect(denied.size).toBe(0);
  });

  test("invalidation drops exactly the scope it names", async () => {
    const { fetch } = counting();
    const cache = createPermissionCache(fetch, { ttlMs: 30_000 });
    for (const [inst, repo, user] of [[1, 1, "a"], [1, 1, "b"], [1, 2, "a"], [2, 1, "a"]] as const) await cache.check(target(inst, repo), user);
    expect(cache.invalidate({ installationId: 1, repoId: 1, login: "A" })).toBe(1);
    expect(cache.invalidate({ installationId: 1, login: "a" })).toBe(1);
    expect(cache.invalidate({ installationId: 1 })).toBe(1);
    expect(cache.size).toBe(1); // installation 2 untouched
  });

  test("bounded: the oldest entries go first", async () => {
    const { fetch } = counting();
    const cache = createPermissionCache(fetch, { ttlMs: 30_000, maxEntries: 100 });
    for (let i = 0; i < 250; i++) await cache.check(target(1, 1), `u${i}`);
    expect(cache.size).toBe(100);
  });
});

describe("which cached permissions a membership event drops", () => {
  const repository = { id: 42 };
  test.each([
    ["member", { action: "removed", member: { login: "al" }, repository }, { installationId: 1, repoId: 42, login: "al" }],
    ["membership", { action: "removed", member: { login: "al" } }, { installationId: 1, login: "al" }],
    ["organization", { action: "member_removed", membership: { user: { login: "al" } } }, { installationId: 1, login: "al" }],
    ["organization", { action: "deleted" }, { installationId: 1 }],
    ["organization", { action: "renamed" }, undefined],
    ["team", { action: "edited", repository }, { installationId: 1, repoId: 42 }],
    ["team", { action: "deleted" }, { installationId: 1 }],
    ["team", { action: "created" }, undefined],
    ["team_add", { repository }, { installationId: 1, repoId: 42 }],
  ] as const)("%s %j → %j", (event, payload, scope) => {
    expect(scopeOf(event, payload as never, 1)).toEqual(scope);
  });
});

describe("the operator login guard", () => {
  const credentials = { username: "ops", password: "right-password-123" };
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

  test("5 free failures, then a lock-out that doubles; other addresses still log in; failures are summarised and counted", () => {
    let now = 1_000_000;
    const { lines, log } = recordingLog();
    const summary = createSummaryLog({ log, message: "failed logins", intervalMs: 3600_000 });
    const counted: string[] = [];
    const guard = createLoginGuard({ credentials, clientAddress: (r) => r.socket.remoteAddress!, summary, countFailure: (o) => void counted.push(o), now: () => now });
    const attacker = (pass: string) => fakeReq("6.6.6.6", { authorization: basic("ops", pass) });
    for (let i = 0; i < 5; i++) expect(guard.check(attacker(`guess-${i}`))).toBe("wrong");
    expect(guard.retryAfterSeconds(attacker("x"))).toBe(0);
    expect(guard.check(attacker("guess-5"))).toBe("wrong"); // the sixth failure starts a lock-out
    expect(guard.retryAfterSeconds(attacker("x"))).toBe(1);
    // While locked, even the right password is not checked.
    expect(guard.check(attacker(credentials.password))).toBe("locked");
    // Someone else logs in as usual.
    expect(guard.check(fakeReq("10.0.0.5", { authorization: basic("ops", credentials.password) }))).toBe("ok");
    now += 1000;
    expect(guard.check(attacker("guess-6"))).toBe("wrong");
    expect(guard.retryAfterSeconds(attacker("x"))).toBe(2);
    now += 2000;
    expect(guard.check(attacker("guess-7"))).toBe("wrong");
    expect(guard.retryAfterSeconds(attacker("x"))).toBe(4);
    now += 4000;
    expect(guard.check(attacker(credentials.password))).toBe("ok"); // the right one resets the count
    expect(guard.check(attacker("again"))).toBe("wrong");
    expect(guard.retryAfterSeconds(attacker("x"))).toBe(0);
    expect(counted.filter((c) => c === "locked")).toHaveLength(1);
    expect(counted.filter((c) => c === "wrong")).toHaveLength(9);
    summary.flush();
    expect(lines.map((l) => [l.fields.reason, l.fields.count])).toEqual(
      expect.arrayContaining([
        ["wrong-password", 9],
        ["locked-out", 1],
      ]),
    );
    expect(JSON.stringify(lines)).not.toContain("guess");
  });

  test("the lock-out is capped, and a source is forgotten an hour after its last failure", () => {
    let now = 0;
    const summary = createSummaryLog({ log: recordingLog().log, message: "x", intervalMs: 3600_000 });
    const guard = createLoginGuard({ credentials, clientAddress: (r) => r.socket.remoteAddress!, summary, countFailure: () => {}, now: () => now, maxLockMs: 60_000 });
    const req = fakeReq("6.6.6.6", { authorization: basic("ops", "nope") });
    for (let i = 0; i < 40; i++) {
      guard.check(req);
      now += guard.retryAfterSeconds(req) * 1000;
    }
    guard.check(req);
    expect(guard.retryAfterSeconds(req)).toBe(60);
    now += 3600_000 + 60_001;
    expect(guard.retryAfterSeconds(req)).toBe(0);
    expect(guard.check(req)).toBe("wrong");
    expect(guard.retryAfterSeconds(req)).toBe(0);
    summary.close();
  });
});
