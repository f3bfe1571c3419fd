import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Environment } from "../agent/environment.js";
import { createLocalEnvironment } from "../agent/local-environment.js";
import type { AgentOutcome } from "../agent/loop.js";
import { CONFIG_PATH, parseRepoConfig } from "../config/repo-config.js";
import { sandboxRegistryEnv } from "../config/sandbox-registries.js";
import { egressRulesFor } from "../workspace/egress-rules.js";
import { SandboxUnavailableError } from "../workspace/errors.js";
import { createSandbox } from "../workspace/sandbox.js";
import { setupFailureLine } from "../workspace/setup-failure.js";
import { detectTestPlan, readerFor, runSetup } from "../workspace/test-runner.js";
import { UsageError } from "./args.js";
import { workingTreeDiff } from "./git-diff.js";
import { checkNewBranch, checkoutFacts, cliGit, makeLocalCopy, type LocalCopy } from "./local-copy.js";

/**
 * Where `iquest-bot fix` runs the agent's commands.
 *
 * - `bwrap` (the default): the worker's sandbox over a copy of the checkout at HEAD (local-copy.ts):
 *   no network, no view of the user's home, /tmp or other files, a fixed environment, the
 *   worker's limits. Setup (installing dependencies) runs first, as its own logged step, with
 *   network through the egress proxy (the registries only), as in the worker. The change comes
 *   back as a patch applied to the checkout, or a branch.
 * - `none` (explicit only): commands run in the checkout itself, as the user; one warning line.
 */
export type SandboxChoice = "bwrap" | "none";

export interface FixWorkspaceOptions {
  repo: string;
  sandbox: SandboxChoice;
  /** --branch NAME: leave the result on this new local branch instead of applying it. */
  branch?: string;
  /** --no-setup: skip the dependency install. */
  setup: boolean;
  /** The fixed environment for `none` (PATH, HOME, …; no secrets). */
  commandEnv: Readonly<Record<string, string>>;
  /** EGRESS_ALLOW and NPM_REGISTRY, as the worker reads them. */
  egressAllow?: string;
  npmRegistry: string;
  setupTimeoutMs: number;
  bwrapPath?: string;
  /** Where the copy is made (default: the system's temporary directory). */
  tmpRoot?: string;
  signal?: AbortSignal;
  /** Progress lines (stderr). */
  say(line: string): void;
}

export interface Delivery {
  /** The agent's change, for the output; undefined when there is no git to ask. */
  diff?: string;
  /** Applied to the checkout's files (sandbox only; null with `--sandbox none`, where the agent edited them itself). */
  applied: boolean | null;
  /** Where the change was saved when it was not applied. */
  patchFile?: string;
  /** The branch made with --branch. */
  branch?: string;
  /** One line for the user on what happened to the change. */
  note?: string;
}

export interface FixWorkspace {
  env: Environment;
  /** The sandbox in words, for the banner. */
  description: string;
  /** After the agent: bring the change back (apply, branch, or save). */
  deliver(outcome: AgentOutcome, runId: string, task: string): Promise<Delivery>;
  close(): Promise<void>;
}

export const NO_SANDBOX_LINE =
  "iquest-bot: --sandbox none: the agent's commands run directly on this machine, as you, with your files, environment and network.";

export function bubblewrapHelp(reason: string): string {
  return (
    `the sandbox cannot start here: ${reason}.\n` +
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged user namespaces " +
    "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 23.10+ also kernel.apparmor_restrict_unprivileged_userns=0), " +
    "or pass --sandbox none to run the agent's commands directly on this machine (not isolated)"
  );
}

export async function openFixWorkspace(options: FixWorkspaceOptions): Promise<FixWorkspace> {
  if (options.sandbox === "none") return openUnsandboxed(options);
  const { git, dispose } = await cliGit(options.tmpRoot);
  let copy: LocalCopy | undefined;
  try {
    const facts = await checkoutFacts(git, options.repo);
    if (options.branch) await checkNewBranch(git, facts.top, options.branch);
    if (facts.dirty.length) {
      options.say(
        `iquest-bot fix: your checkout has uncommitted changes (${facts.dirty.length} path${facts.dirty.length === 1 ? "" : "s"}). They stay as they are: ` +
          `the agent works on a copy of HEAD (${facts.head.slice(0, 12)}) without them, and its change ` +
          (options.branch ? `goes on the new branch ${options.branch}.` : "is applied on top when it does not overlap them (else it is saved as a patch)."),
      );
    }
    copy = await makeLocalCopy(git, facts, { ...(options.tmpRoot ? { tmpRoot: options.tmpRoot } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    const rules = egressRulesFor(options.egressAllow, [options.npmRegistry]);
    // The repository's own settings for its tests (.github/iquest.yml), as the worker reads them.
    const tests = parseRepoConfig(await readText(copy.worktree, CONFIG_PATH)).config.tests;
    const network = options.setup && rules.length > 0 && tests?.setupNetwork !== false;
    const env = await createSandbox({
      mode: "bwrap",
      worktree: copy.worktree,
      home: copy.home,
      allowNetwork: network,
      egress: { rules },
      baseEnv: sandboxRegistryEnv({ NPM_REGISTRY: options.npmRegistry }),
      ...(options.bwrapPath ? { bwrapPath: options.bwrapPath } : {}),
    }).catch((err: unknown) => {
      if (err instanceof SandboxUnavailableError) throw new UsageError(bubblewrapHelp(err.message.replace(/^the bubblewrap sandbox is unavailable: /, "").replace(/\. Jobs are refused.*$/s, "")));
      throw err;
    });
    if (options.setup) {
      const plan = await detectTestPlan(readerFor(env), {
        ...(tests?.setup ? { setup: tests.setup } : {}),
        ...(tests?.command ? { test: tests.command } : {}),
      });
      if (plan?.setup) {
        options.say(`setup: \`${plan.setup}\` (${plan.reason}) ${network ? "with network through the egress proxy (package registries only)" : "without network"} …`);
        const setup = await runSetup(env, plan, { timeoutMs: options.setupTimeoutMs, network, ...(options.signal ? { signal: options.signal } : {}) });
        const refused = env.egressReport().refused.map((r) => `${r.host} (${r.count}×)`);
        if (setup.ok) options.say(`setup: done in ${(setup.durationMs / 1000).toFixed(1)} s`);
        else options.say(`setup: failed with exit code ${setup.exitCode}${setup.killed ? ` (${setup.killed})` : ""}: ${setupFailureLine(setup.output) ?? "no output"}; the agent starts anyway`);
        if (refused.length) options.say(`setup: the egress proxy refused ${refused.join(", ")} (EGRESS_ALLOW names what setup may reach)`);
      }
    }
    await copy.snapshot();
    const made = copy;
    return {
      env,
      description: `sandboxed copy of ${facts.head.slice(0, 12)}, bubblewrap, no network`,
      async deliver(outcome, runId, task) {
        const patch = await made.patch();
        if (!patch) return { diff: "", applied: false, note: "the agent changed nothing" };
        if (outcome.kind !== "submitted") {
          const patchFile = await made.savePatch(patch, `fix-${runId}`);
          return { diff: patch, applied: false, patchFile, note: `not applied (the agent did not finish); saved to ${patchFile} (apply it with: git apply ${patchFile})` };
        }
        if (options.branch) {
          const subject = task.trim().split("\n")[0]!.slice(0, 72) || "the task";
          await made.commitToBranch(options.branch, `iquest-bot fix: ${subject}\n\nIQuest-Run: ${runId}\n`, patch);
          return { diff: patch, applied: false, branch: options.branch, note: `committed on the new branch ${options.branch}; your checkout is unchanged` };
        }
        const applied = await made.applyToCheckout(patch);
        if (applied.applied) return { diff: patch, applied: true, note: "applied to your checkout's files (not staged)" };
        const patchFile = await made.savePatch(patch, `fix-${runId}`);
        return { diff: patch, applied: false, patchFile, note: `not applied: it overlaps your uncommitted changes (${applied.reason}); saved to ${patchFile}` };
      },
      async close() {
        await env.close().catch(() => {});
        await made.close();
        await dispose();
      },
    };
  } catch (err) {
    await copy?.close();
    await dispose();
    throw err;
  }
}

async function openUnsandboxed(options: FixWorkspaceOptions): Promise<FixWorkspace> {
  options.say(NO_SANDBOX_LINE);
  const env = await createLocalEnvironment({ root: options.repo, baseEnv: options.commandEnv });
  return {
    env,
    description: env.description,
    async deliver() {
      const diff = await workingTreeDiff(options.repo, options.commandEnv).catch(() => undefined);
      return { ...(diff !== undefined ? { diff } : {}), applied: null };
    },
    close: () => env.close(),
  };
}

function readText(root: string, path: string): Promise<string | undefined> {
  return readFile(join(root, path), "utf8").catch(() => undefined);
}
