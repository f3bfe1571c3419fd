import { describe, expect, test } from "@jest/globals";
import { defaultRepoConfig, describeProblems, parseRepoConfig } from "../../src/config/repo-config.js";

describe("parseRepoConfig", () => {
  test("no file → defaults, no problems", () => {
    const loaded = parseRepoConfig(undefined);
    expect(loaded.source).toBe("default");
    expect(loaded.problems).toEqual([]);
    expect(loaded.config.fix.label).toBe("iquest:fix");
    expect(loaded.config.fix.budget).toEqual({ maxSteps: 100, maxMinutes: 60, maxTokens: 2_000_000 });
    expect(loaded.config.review.enabled).toBe(true);
    expect(loaded.config.upgrade.schedule).toBeUndefined();
  });

  test("empty file → defaults", () => {
    expect(parseRepoConfig("").config).toEqual(defaultRepoConfig());
    expect(parseRepoConfig("# only a comment\n").problems).toEqual([]);
  });

  test("a good file is taken as written, with defaults filled in", () => {
    const loaded = parseRepoConfig(
      [
        "fix:",
        "  label: bot-fix",
        "  budget:",
        "    maxSteps: 30",
        "review:",
        "  enabled: false",
        "  ignore: ['docs/**']",
        "upgrade:",
        "  schedule: '0 4 * * 1'",
      ].join("\n"),
    );
    expect(loaded.problems).toEqual([]);
    expect(loaded.config.fix.label).toBe("bot-fix");
    expect(loaded.config.fix.budget).toEqual({ maxSteps: 30, maxMinutes: 60, maxTokens: 2_000_000 });
    expect(loaded.config.review.enabled).toBe(false);
    expect(loaded.config.review.ignore).toEqual(["docs/**"]);
    expect(loaded.config.upgrade.schedule).toBe("0 4 * * 1");
  });

  test("a bad value falls back to its default, names the key and line, and keeps the rest", () => {
    const loaded = parseRepoConfig(["fix:", "  label: my-label", "review:", "  enabled: sometimes", ""].join("\n"));
    expect(loaded.config.fix.label).toBe("my-label");
    expect(loaded.config.review.enabled).toBe(true);
    expect(loaded.problems).toHaveLength(1);
    expect(loaded.problems[0]).toMatchObject({ key: "review.enabled", line: 4 });
  });

  test("unknown keys are reported with their line", () => {
    const loaded = parseRepoConfig(["fix:", "  lable: typo", "colour: blue"].join("\n"));
    const keys = loaded.problems.map((p) => [p.key, p.line]);
    expect(keys).toEqual(expect.arrayContaining([["fix.lable", 2], ["colour", 3]]));
    expect(loaded.config).toEqual(defaultRepoConfig());
  });

  test("a bad cron is refused with a hint", () => {
    const loaded = parseRepoConfig("upgrade:\n  schedule: every monday\n");
    expect(loaded.problems[0]?.key).toBe("upgrade.schedule");
    expect(loaded.problems[0]?.message).toMatch(/cron/);
    expect(loaded.config.upgrade.schedule).toBeUndefined();
  });

  test("numbers out of range and wrong types", () => {
    const loaded = parseRepoConfig("fix:\n  budget:\n    maxSteps: -3\n    maxMinutes: lots\n");
    expect(loaded.problems.map((p) => p.key).sort()).toEqual(["fix.budget.maxMinutes", "fix.budget.maxSteps"]);
    expect(loaded.config.fix.budget.maxSteps).toBe(100);
  });

  test("a binary value inside a key falls back to that key's default", () => {
    const loaded = parseRepoConfig("review:\n  ignore: !!binary aGVsbG8=\n  enabled: false\n");
    expect(loaded.config.review.ignore).toEqual(defaultRepoConfig().review.ignore);
    expect(loaded.config.review.enabled).toBe(false);
  });

  test("a bad list element drops the whole list to its default", () => {
    const loaded = parseRepoConfig("review:\n  ignore: ['a/**', 3]\n");
    expect(loaded.problems[0]?.key).toMatch(/^review\.ignore/);
    expect(loaded.config.review.ignore).toEqual(defaultRepoConfig().review.ignore);
  });

  test("a repo may not supply a URL where a profile name goes", () => {
    const loaded = parseRepoConfig("fix:\n  profile: http://evil.example/v1\n");
    expect(loaded.problems[0]?.key).toBe("fix.profile");
    expect(loaded.config.fix.profile).toBeUndefined();
  });

  test.each([
    ["YAML syntax error", "fix: [unclosed\n"],
    ["a list at the top", "- a\n- b\n"],
    ["a scalar at the top", "just text\n"],
    ["duplicate keys", "fix:\n  label: a\nfix:\n  label: b\n"],
    ["a binary value at the top (found by fuzzing)", "!!binary &a ~B@C"],
    ["a billion laughs", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"],
  ])("%s → defaults and a problem, no throw", (_name, text) => {
    const loaded = parseRepoConfig(text);
    expect(loaded.config).toEqual(defaultRepoConfig());
    expect(loaded.problems.length).toBeGreaterThan(0);
  });

  test("describeProblems names key and line", () => {
    const text = describeProblems([{ key: "review.enabled", line: 4, message: "expected boolean" }]);
    expect(text).toBe("- `review.enabled` (line 4): expected boolean; using the default");
  });
});
