import { execFile } from "node:child_process";

/**
 * The working tree's changes as one diff, new (untracked, not ignored) files included. Runs git
 * on the host against a tree the agent could write to, so repo config that runs programs is
 * switched off: fsmonitor, external diff drivers, textconv filters (REFERENCE part C, T9).
 * Undefined when `repo` is not a git work tree.
 */
export async function workingTreeDiff(repo: string, env: Readonly<Record<string, string>>): Promise<string | undefined> {
  const git = (args: string[], okCodes: number[] = [0]) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        "git",
        ["-c", "core.fsmonitor=", "-c", "core.hooksPath=/dev/null", "-c", "diff.external=", ...args],
        { cwd: repo, env: { ...env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" }, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
        (err, stdout) => {
          const code = (err as { code?: unknown } | null)?.code;
          if (err && !(typeof code === "number" && okCodes.includes(code))) reject(err);
          else resolve(stdout);
        },
      );
    });
  try {
    if ((await git(["rev-parse", "--is-inside-work-tree"])).trim() !== "true") return undefined;
  } catch {
    return undefined;
  }
  const flags = ["--no-color", "--no-ext-diff", "--no-textconv"];
  const tracked = await git(["diff", ...flags, "HEAD", "--", "."]).catch(() => git(["diff", ...flags, "--", "."]));
  const untracked = (await git(["ls-files", "--others", "--exclude-standard", "-z", "--", "."])).split("\0").filter(Boolean);
  const added: string[] = [];
  for (const file of untracked) {
    // --no-index exits 1 when the files differ, which they always do here.
    added.push(await git(["diff", ...flags, "--no-index", "--", "/dev/null", file], [0, 1]));
  }
  return tracked + added.join("");
}
