import { describe, expect, test } from "@jest/globals";
import { chooseRedeliveries, type DeliveryAttempt } from "../../src/reconciler/choose.js";

const now = Date.parse("2026-11-29T12:00:00Z");
const at = (hoursAgo: number) => new Date(now - hoursAgo * 3600_000).toISOString();
const d = (id: number, guid: string, statusCode: number, hoursAgo: number, event = "issues"): DeliveryAttempt => ({
  id,
  guid,
  deliveredAt: at(hoursAgo),
  redelivery: false,
  statusCode,
  event,
});
const options = { now, windowMs: 71 * 3600_000, events: new Set(["issues", "issue_comment"]), max: 10, recentlyAsked: new Set<string>() };

describe("chooseRedeliveries", () => {
  test("a GUID with no 2xx attempt is lost; one that later succeeded is not", () => {
    const chosen = chooseRedeliveries([d(1, "a", 503, 5), d(2, "b", 0, 4), d(3, "c", 500, 3), d(4, "c", 200, 2), d(5, "e", 200, 1)], options);
    expect(chosen.map((x) => x.guid)).toEqual(["a", "b"]);
  });

  test("the newest attempt of a lost GUID is the one redelivered; oldest GUIDs first", () => {
    const chosen = chooseRedeliveries([d(9, "late", 502, 1), d(1, "x", 502, 10), d(2, "x", 502, 9)], options);
    expect(chosen.map((x) => [x.guid, x.id])).toEqual([["x", 2], ["late", 9]]);
  });

  test("outside the window, other events, and GUIDs asked for recently are left alone; max bounds a run", () => {
    expect(chooseRedeliveries([d(1, "old", 502, 80)], options)).toEqual([]);
    expect(chooseRedeliveries([d(1, "ping", 502, 1, "ping")], options)).toEqual([]);
    expect(chooseRedeliveries([d(1, "asked", 502, 1)], { ...options, recentlyAsked: new Set(["asked"]) })).toEqual([]);
    const many = Array.from({ length: 30 }, (_, i) => d(i + 1, `g${i}`, 500, 30 - i / 2));
    expect(chooseRedeliveries(many, { ...options, max: 5 }).map((x) => x.guid)).toEqual(["g0", "g1", "g2", "g3", "g4"]);
  });
});
