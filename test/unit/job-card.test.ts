import { describe, expect, test } from "@jest/globals";
import { JobCard } from "../../src/jobs/card-publisher.js";
import { addWarning, cardMarker, finishCard, initialCard, renderCard, setPhase } from "../../src/jobs/job-card.js";
import { redact } from "../../src/shared/redact.js";

describe("job card", () => {
  test("phases tick in order and the card ends final", () => {
    let s = initialCard("fix", "fix-abc", "fix for #7");
    expect(s.phases.map((p) => p.status)).toEqual(["done", "pending", "pending", "pending", "pending", "pending"]);
    s = setPhase(s, "agent", "running", "step 3 of 100");
    expect(s.phases.map((p) => p.status)).toEqual(["done", "done", "done", "running", "pending", "pending"]);
    s = finishCard(s, "failure", "model unreachable");
    expect(s.phases.map((p) => p.status)).toEqual(["done", "done", "done", "failed", "skipped", "skipped"]);
    const body = renderCard(s, "fix-abc");
    expect(body.startsWith(cardMarker("fix-abc"))).toBe(true);
    expect(body).toContain("❌ model unreachable");
    expect(body).not.toContain("/iquest stop");
  });

  test("an unfinished card offers /iquest stop and shows warnings", () => {
    const s = addWarning(initialCard("review", "r-1", "review of #3"), "config problem");
    const body = renderCard(s, "r-1");
    expect(body).toContain("/iquest stop");
    expect(body).toContain("> config problem");
  });

  test("unknown phase is a bug, not a silent no-op", () => {
    expect(() => setPhase(initialCard("fix", "j", "t"), "deploy", "done")).toThrow(/unknown phase/);
  });

  test("JobCard writes phase changes at once and throttles progress", async () => {
    const writes: string[] = [];
    let now = 0;
    const card = new JobCard({ write: async (b) => void writes.push(b) }, "j", initialCard("fix", "j", "t"), redact, 10_000, () => now);
    await card.flush();
    await card.update((s) => setPhase(s, "agent", "running", "step 1"));
    now = 1000;
    await card.update((s) => setPhase(s, "agent", "running", "step 2"), { progress: true });
    now = 20_000;
    await card.update((s) => setPhase(s, "agent", "running", "step 9"), { progress: true });
    await card.flush(); // unchanged: no write
    expect(writes).toHaveLength(3);
    expect(writes[2]).toContain("step 9");
  });

  test("the card is redacted before it is written", async () => {
    const writes: string[] = [];
    const card = new JobCard({ write: async (b) => void writes.push(b) }, "j", initialCard("fix", "j", "t"), redact);
    await card.update((s) => finishCard(s, "failure", `leaked ghs_${"a".repeat(40)}`));
    expect(writes[0]).toContain("[REDACTED]");
    expect(writes[0]).not.toContain("ghs_aaaa");
  });

  test("writes run off the job's path: a slow sink does not block updates, and intermediate states coalesce", async () => {
    const writes: string[] = [];
    let release!: () => void;
    const sink = {
      write: (b: string) => {
        writes.push(b);
        return writes.length === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
      },
    };
    const card = new JobCard(sink, "j", initialCard("fix", "j", "t"), redact, 0);
    const started = Date.now();
    await card.update((s) => setPhase(s, "checkout", "running"));
    await card.update((s) => setPhase(s, "baseline tests", "running"));
    await card.update((s) => setPhase(s, "agent", "running", "step 1"));
    expect(Date.now() - started).toBeLessThan(50);
    expect(writes).toHaveLength(1); // one in flight; the rest wait for it
    const flushed = card.flush();
    release();
    await flushed;
    expect(writes).toHaveLength(2); // the first, then only the latest state
    expect(writes[1]).toContain("step 1");
  });

  test("flush reports a failed write; the next write carries the latest state", async () => {
    let fail = true;
    const writes: string[] = [];
    const errors: unknown[] = [];
    const sink = {
      write: async (b: string) => {
        if (fail) throw new Error("502");
        writes.push(b);
      },
    };
    const card = new JobCard(sink, "j", initialCard("fix", "j", "t"), redact, 0, Date.now, (e) => errors.push(e));
    await card.update((s) => setPhase(s, "checkout", "running"));
    await expect(card.flush()).rejects.toThrow("502");
    expect(errors).toHaveLength(1);
    fail = false;
    await card.update((s) => finishCard(s, "success", "done"));
    await card.flush();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain("✅ done");
  });
});
