import { afterAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cliGit } from "../../src/cli/local-copy.js";
import { localRange } from "../../src/cli/local-diff.js";

/**
 * What `iquest-bot review` reviews, read with real git: one record per changed file, shaped as
 * GitHub lists a pull request's files (status, counts, the patch from its first hunk; none for a
 * binary file), in the same order git names them, from a single diff of the range.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();
const write = (dir: string, path: string, data: string | Buffer) => {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), data);
};

describe("localRange", () => {
  test("modified, added, deleted, renamed-and-edited and binary files, each with its own patch", async () => {
    const dir = mkdtempSync(join(tmpdir(), "local-diff-"));
    dirs.push(dir);
    const lines = (n: number, tag = "") => Array.from({ length: n }, (_, i) => `line ${i + 1}${tag}`).join("\n") + "\n";
    write(dir, "a.txt", lines(10));
    write(dir, "gone.txt", "bye\n");
    write(dir, "old/name.js", lines(20));
    git(dir, "init", "-q", "-b", "main");
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "base");
    git(dir, "checkout", "-q", "-b", "feature");
    write(dir, "a.txt", lines(10).replace("line 5\n", "line five\n"));
    write(dir, "b/new.txt", "hello\n");
    unlinkSync(join(dir, "gone.txt"));
    mkdirSync(join(dir, "new"));
    git(dir, "mv", "old/name.js", "new/name.js");
    write(dir, "new/name.js", lines(20).replace("line 20\n", "line twenty\n"));
    write(dir, "logo.png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0]));
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "change things\n\nbody");
    const { git: hostGit, dispose } = await cliGit();
    try {
      const range = await localRange(hostGit, dir, "main");
      expect(range.headName).toBe("feature");
      expect(range.messages).toBe("change things\n\nbody");
      const byName = Object.fromEntries(range.files.map((f) => [f.filename, f]));
      expect(range.files.map((f) => [f.filename, f.status, f.additions, f.deletions])).toEqual([
        ["a.txt", "modified", 1, 1],
        ["b/new.txt", "added", 1, 0],
        ["gone.txt", "removed", 0, 1],
        ["logo.png", "added", 0, 0],
        ["new/name.js", "renamed", 1, 1],
      ]);
      expect(byName["a.txt"]!.patch).toMatch(/^@@ -2,7 \+2,7 @@[^\n]*\n line 2\n/);
      expect(byName["a.txt"]!.patch).toContain("-line 5\n+line five\n");
      expect(byName["a.txt"]!.patch).not.toContain("new.txt");
      expect(byName["b/new.txt"]!.patch).toBe("@@ -0,0 +1 @@\n+hello\n");
      expect(byName["gone.txt"]!.patch).toBe("@@ -1 +0,0 @@\n-bye\n");
      expect(byName["logo.png"]!.patch).toBeUndefined();
      expect(byName["new/name.js"]).toMatchObject({ previous_filename: "old/name.js" });
      expect(byName["new/name.js"]!.patch).toContain("-line 20\n+line twenty\n");
    } finally {
      await dispose();
    }
  });
});
