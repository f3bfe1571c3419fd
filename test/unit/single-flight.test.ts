import { describe, expect, test } from "@jest/globals";
import { singleFlight } from "../../src/webhooks/single-flight.js";

describe("singleFlight", () => {
  test("concurrent calls with one key share one run; later calls run again (nothing cached)", async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const f = singleFlight((k: string) => k, async (k: string) => {
      runs++;
      await gate;
      return `${k}-${runs}`;
    });
    const a = f("x");
    const b = f("x");
    const c = f("y");
    release();
    expect(await Promise.all([a, b, c])).toEqual(["x-2", "x-2", "y-2"]);
    expect(runs).toBe(2);
    expect(await f("x")).toBe("x-3");
  });

  test("a failure reaches every waiter and is not remembered", async () => {
    let fail = true;
    const f = singleFlight(() => "k", async () => {
      if (fail) throw new Error("500");
      return "ok";
    });
    await expect(Promise.all([f(), f()])).rejects.toThrow("500");
    fail = false;
    expect(await f()).toBe("ok");
  });
});
