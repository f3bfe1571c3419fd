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
});
