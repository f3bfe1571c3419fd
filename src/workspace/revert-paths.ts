import { lstat, unlink } from "node:fs/promises";
import { resolveInside, writeConfined } from "./confined-fs.js";
import type { Git } from "./git.js";
import type { JobCheckout } from "./checkout.js";

/**
 * Put paths in a job's worktree back to how they were at the job's commit: the content from the
 * mirror, or gone if the path did not exist there. Used when the publish policy refuses part of
 * a change (a workflow file, a submodule): the refused part is undone and the rest can still be
 * published, with the refusal explained.
 *
 * The worktree is written by the sandbox, so every write goes through writeConfined (no
 * following a planted symlink out of the worktree), and reads come from the host's mirror.
 */
export async function revertPaths(git: Git, checkout: JobCheckout, paths: readonly string[]): Promise<string[]> {
  const reverted: string[] = [];
  for (const path of paths) {
    const target = resolveInside(checkout.worktree, path);
    const original = await git(["--git-dir", checkout.mirrorDir, "cat-file", "blob", `${checkout.commit}:${path}`], {
      okExitCodes: [128],
    });
    if (original.code === 0) {
      // Text only (git output is decoded as UTF-8): the paths refused by policy are workflow YAML
      // and .gitmodules, never binaries.
      const owner = checkout.uid === null ? null : { uid: checkout.uid, gid: checkout.gid ?? checkout.uid };
      await writeConfined(checkout.worktree, path, original.stdout, owner);
    } else {
      const st = await lstat(target).catch(() => undefined);
      // A directory in place of a file (e.g. a submodule checkout) is left to the policy check,
      // which refuses it again: deleting trees the sandbox planted is not this function's job.
      if (st && !st.isDirectory()) await unlink(target);
    }
    reverted.push(path);
  }
  return reverted;
}
