import { describe, expect, test } from "@jest/globals";
import { getPriority } from "node:os";
import { HOST_HELPER_NICENESS, SYSTEM_PATH, runProcess } from "../../src/workspace/run-process.js";

/** Host-side helpers: an explicit environment only, and batch priority. */
describe("runProcess", () => {
  test("the helper runs niced, and what it forks inherits that", async () => {
    // The parent shell reads its own niceness after a short pause (setPriority lands right after
    // spawn); the forked child reads its own.
    const r = await runProcess("/bin/sh", ["-c", "sleep 0.2; nice; sh -c nice"], { env: { PATH: SYSTEM_PATH } });
    expect(r.code).toBe(0);
    const expected = String(Math.min(19, getPriority() + HOST_HELPER_NICENESS));
    expect(r.stdout.toString().trim().split("\n")).toEqual([expected, expected]);
    expect(HOST_HELPER_NICENESS).toBeGreaterThan(0);
  });

  test("nothing of the worker's environment reaches the helper", async () => {
    process.env.IQUEST_RUNPROCESS_CANARY = "canary-value";
    try {
      const r = await runProcess("/bin/sh", ["-c", "env"], { env: { PATH: SYSTEM_PATH } });
      expect(r.stdout.toString()).not.toContain("canary-value");
      expect(r.stdout.toString()).toContain(`PATH=${SYSTEM_PATH}`);
    } finally {
      delete process.env.IQUEST_RUNPROCESS_CANARY;
    }
  });
});
