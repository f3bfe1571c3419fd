import { describe, expect, test } from "@jest/globals";
import { findOutdatedActions } from "../../src/deps/actions/outdated-actions.js";
import { compareActionUse, parseWorkflowUses } from "../../src/deps/actions/workflow-uses.js";
import { createMemoryFiles } from "../../src/deps/dir-files.js";

/** The workflows' actions for the dashboard (information only): what `uses:` names, and when a newer release makes it outdated. */
describe("workflow uses", () => {
  test("every `uses:` form: steps, job-level reusable workflows, quotes, sub-paths, SHA pins with a version comment; local and docker actions skipped", () => {
    const text = [
      "jobs:",
      "  call:",
      "    uses: acme/workflows/.github/workflows/ci.yml@v2",
      "  build:",
      "    steps:",
      "      - uses: actions/checkout@v4",
      '      - uses: "actions/setup-node@v4.1.0"',
      "      - uses: github/codeql-action/init@v3.27.0",
      "      - uses: actions/cache@0123456789abcdef0123456789abcdef01234567 # v4.1.2",
      "      - uses: ./.github/actions/mine",
      "      - uses: docker://alpine:3.20",
      "      - name: uses: in a name is not a step",
    ].join("\n");
    expect(parseWorkflowUses("ci.yml", text).map((u) => `${u.action}@${u.ref}${u.comment ? ` ${u.comment}` : ""}`)).toEqual([
      "acme/workflows@v2",
      "actions/checkout@v4",
      "actions/setup-node@v4.1.0",
      "github/codeql-action@v3.27.0",
      "actions/cache@0123456789abcdef0123456789abcdef01234567 v4.1.2",
    ]);
  });

  test("a major tag follows its major, a minor tag its minor, a full version or a SHA pin any newer release; branches are never outdated", () => {
    expect(compareActionUse({ ref: "v4" }, "v4.2.2")).toBeUndefined();
    expect(compareActionUse({ ref: "v3" }, "v4.2.2")).toBe("v4.2.2 is out (this uses v3)");
    expect(compareActionUse({ ref: "v4.1" }, "v4.1.9")).toBeUndefined();
    expect(compareActionUse({ ref: "v4.1" }, "v4.2.0")).toBe("v4.2.0 is out (this uses v4.1)");
    expect(compareActionUse({ ref: "v4.1.0" }, "v4.1.1")).toBe("v4.1.1 is out (this uses v4.1.0)");
    expect(compareActionUse({ ref: "v4.1.1" }, "v4.1.1")).toBeUndefined();
    expect(compareActionUse({ ref: "main" }, "v9.0.0")).toBeUndefined();
    const sha = "0123456789abcdef0123456789abcdef01234567";
    expect(compareActionUse({ ref: sha, comment: "v4.1.2" }, "v4.1.2")).toBeUndefined();
    expect(compareActionUse({ ref: sha, comment: "v4.1.2" }, "v4.2.0")).toBe("pinned to a commit of v4.1.2; v4.2.0 is the latest release");
    expect(compareActionUse({ ref: sha }, "v4.2.0")).toBe("pinned to a commit; v4.2.0 is the latest release");
    expect(compareActionUse({ ref: "v3" }, "nightly")).toBeUndefined();
  });

  test("each action asked once; an action without a release is listed as unchecked; no workflows, no report", async () => {
    const asked: string[] = [];
    const files = createMemoryFiles({
      ".github/workflows/a.yml": "steps:\n  - uses: actions/checkout@v3\n  - uses: nobody/thing@v1\n",
      ".github/workflows/b.yaml": "steps:\n  - uses: actions/checkout@v3\n",
      ".github/workflows/notes.txt": "uses: ignored/not-yaml@v1\n",
    });
    const report = await findOutdatedActions({ ...files, listFiles: async (dir) => (dir === ".github/workflows" ? ["a.yml", "b.yaml", "notes.txt"] : []) }, async (owner, repo) => {
      asked.push(`${owner}/${repo}`);
      return owner === "actions" ? "v4.0.0" : undefined;
    });
    expect(asked.sort()).toEqual(["actions/checkout", "nobody/thing"]);
    expect(report).toEqual({ used: 2, outdated: [{ action: "actions/checkout", ref: "v3", latest: "v4.0.0", files: [".github/workflows/a.yml", ".github/workflows/b.yaml"], detail: "v4.0.0 is out (this uses v3)" }], unchecked: ["nobody/thing"] });
    expect(await findOutdatedActions({ ...createMemoryFiles({}), listFiles: async () => [] }, async () => "v1")).toBeUndefined();
  });
});
