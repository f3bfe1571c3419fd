/**
 * A job process for the "killed job" test: it runs a real checkout and is SIGKILLed by the test.
 * With `hang` set, it plants the lock files a killed git leaves in the mirror (as if killed in
 * the middle of a fetch) while it holds the repository lock, says so, and waits to be killed.
 * Run: node --import tsx test/support/workspace-checkout-child.ts '<json>'
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createWorkspaceManager } from "../../src/workspace/checkout.js";
import { createGit, type Git } from "../../src/workspace/git.js";

const args = JSON.parse(process.argv[2]!) as {
  root: string;
  gitBaseUrl: string;
  repo: { owner: string; name: string; id: number };
  commit: string;
  hang: boolean;
};

const real = createGit({ homeDir: join(args.root, "git-home"), protocols: ["file"] });
const git = (async (argv: readonly string[], call?: Parameters<Git>[1]) => {
  if (args.hang && argv.includes("read-tree")) {
    const mirror = argv[argv.indexOf("--git-dir") + 1]!;
    mkdirSync(join(mirror, "refs", "heads"), { recursive: true });
    for (const f of ["refs/heads/main.lock", "packed-refs.lock", "shallow.lock", "config.lock", "HEAD.lock"]) writeFileSync(join(mirror, f), "");
    process.stdout.write("HOLDING\n");
    await new Promise(() => {}); // wait for SIGKILL
  }
  return real(argv, call);
}) as Git;
git.pipe = real.pipe;
Object.defineProperty(git, "hardening", { value: real.hardening });

const manager = createWorkspaceManager({ root: args.root, gitBaseUrl: args.gitBaseUrl, git });
process.stdout.write("STARTED\n");
await manager.checkout({ repo: args.repo, commit: args.commit, jobId: "doomed-job", token: "ghs_unused_for_file_remotes" });
process.stdout.write("DONE\n");
await new Promise(() => {});
