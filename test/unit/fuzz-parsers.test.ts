import { describe, expect, test } from "@jest/globals";
import { parseRepoConfig, repoConfigSchema } from "../../src/config/repo-config.js";
import { parseCommand } from "../../src/rules/commands.js";
import { FUZZ_SEED, prng } from "../support/prng.js";

/** Bounded fuzzing of the parsers that read user text: they never throw and always answer sanely. */
const ITERATIONS = 3000;

describe(`fuzz (seed ${FUZZ_SEED})`, () => {
  test("the /iquest command parser never throws; what it returns is well-formed", () => {
    const r = prng(FUZZ_SEED);
    const prefixes = ["", "/iquest", "/iquest ", "/IQUEST fix", "> /iquest fix", "```\n/iquest fix\n", "    /iquest", "/iquest review\n", "text\n/iquest "];
    for (let i = 0; i < ITERATIONS; i++) {
      const body = `${r.pick(prefixes)}${r.text(200)}${r.int(4) === 0 ? "x".repeat(r.int(20_000)) : ""}`;
      let cmd: ReturnType<typeof parseCommand>;
      try {
        cmd = parseCommand(body);
      } catch (err) {
        throw new Error(`iteration ${i}: parseCommand threw ${(err as Error).message} on ${JSON.stringify(body.slice(0, 200))}`);
      }
      if (cmd === undefined) continue;
      expect(["fix", "review", "upgrade", "stop", "help", "other"]).toContain(cmd.kind);
      if (cmd.kind === "fix") expect(cmd.notes.length).toBeLessThanOrEqual(4000);
      if (cmd.kind === "other") expect(cmd.text.length).toBeLessThanOrEqual(4000);
    }
  });

  test("the .github/iquest.yml loader never throws and always yields a valid configuration", () => {
    const r = prng(FUZZ_SEED + 1);
    const fragments = [
      "fix:\n", "  label: ", "  budget:\n", "    maxSteps: ", "review:\n", "  enabled: ", "  ignore: [", "]\n", "upgrade:\n",
      "  schedule: ", "tests:\n", "  command: ", "- ", "&a ", "*a ", "!!binary ", "? ", ": ", "{", "}", "'", "\"", "\n", "  ", "#",
      "0 3 * * 1", "-1", "1e400", "true", "null", "~", "[[[[", "<<: *a\n",
    ];
    for (let i = 0; i < ITERATIONS; i++) {
      const text = Array.from({ length: r.int(30) }, () => (r.int(3) === 0 ? r.text(20) : r.pick(fragments))).join("");
      let loaded: ReturnType<typeof parseRepoConfig>;
      try {
        loaded = parseRepoConfig(text);
      } catch (err) {
        throw new Error(`iteration ${i}: parseRepoConfig threw ${(err as Error).message} on ${JSON.stringify(text.slice(0, 300))}`);
      }
      expect(repoConfigSchema.safeParse(loaded.config).success).toBe(true);
      for (const p of loaded.problems) expect(typeof p.message).toBe("string");
    }
  });
});
