import { describe, expect, test } from "@jest/globals";
import type { PermissionResult } from "../../src/github/permissions.js";
import { decideActor, isBot } from "../../src/rules/triggers.js";

const human = { login: "alice", type: "User" };

// Threat T5: unauthorized triggers. Each row: who, what the permission API said, allowed?
describe("decideActor (T5)", () => {
  test.each<[string, { login?: string; type?: string } | null, PermissionResult, boolean]>([
    ["admin", human, { ok: true, permission: "admin" }, true],
    ["maintainer (role maintain, permission write)", human, { ok: true, permission: "write", roleName: "maintain" }, true],
    ["writer", human, { ok: true, permission: "write" }, true],
    ["triage role", human, { ok: true, permission: "read", roleName: "triage" }, false],
    ["read-only user", human, { ok: true, permission: "read" }, false],
    ["outsider", human, { ok: true, permission: "none" }, false],
    ["another bot", { login: "dependabot[bot]", type: "Bot" }, { ok: true, permission: "write" }, false],
    ["our own bot", { login: "iquest-bot[bot]", type: "Bot" }, { ok: true, permission: "admin" }, false],
    ["bot login without type", { login: "renovate[bot]" }, { ok: true, permission: "write" }, false],
    ["writer while the permission API fails (500)", human, { ok: false, reason: "permission check failed (500)" }, false],
    ["missing sender", null, { ok: true, permission: "admin" }, false],
  ])("%s", (_name, sender, permission, allowed) => {
    expect(decideActor(sender, permission).allowed).toBe(allowed);
  });

  test("a denial says why", () => {
    const d = decideActor(human, { ok: false, reason: "permission check failed (500)" });
    expect(d).toEqual({ allowed: false, reason: "fail closed: permission check failed (500)" });
  });

  test("isBot", () => {
    expect(isBot({ type: "Bot", login: "x" })).toBe(true);
    expect(isBot({ type: "User", login: "alice" })).toBe(false);
    expect(isBot(undefined)).toBe(true);
  });
});
