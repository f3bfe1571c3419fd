import type { ProxySettings } from "../shared/proxy.js";
import type { Environment } from "../agent/environment.js";
import { createLocalEnvironment } from "../agent/local-environment.js";
import type { AgentOutcome } from "../agent/loop.js";
import { workingTreeDiff } from "./git-diff.js";
import { checkNewBranch } from "./local-copy.js";
import { openSandboxedCopy } from "./sandboxed-copy.js";
import { applyInSandbox, type ChangeStore } from "../workspace/sandbox-change.js";
import type { TestPlan } from "../workspace/test-runner.js";

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
  /** The user's HTTPS_PROXY / HTTP_PROXY / NO_PROXY: the egress proxy chains to it. */
  upstreamProxy?: ProxySettings;
  /** The user's GOPROXY, PIP_INDEX_URL, … (CliContext.registryEnv). */
  registryEnv?: Readonly<Record<string, string | undefined>>;
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
  /** After the agent: bring the change back (apply, branch, or save). `notApplied`: only save it, saying why. */
  deliver(outcome: AgentOutcome, runId: string, task: string, notApplied?: string): Promise<Delivery>;
  /** The copy's change, to retry with (`--attempts`); absent with `--sandbox none`. */
  changes?: ChangeStore;
  /** The test plan setup used (detected as the worker does); absent with `--sandbox none`. */
  plan?: TestPlan | null;
  close(): Promise<void>;
}

export const NO_SANDBOX_LINE =
  "iquest-bot: --sandbox none: the agent's commands run directly on this machine, as you, with your files, environment and network.";

export async function openFixWorkspace(options: FixWorkspaceOptions): Promise<FixWorkspace> {
  if (options.sandbox === "none") return openUnsandboxed(options);
  const opened = await openSandboxedCopy({
    ...options,
    notCheckoutHint: "or pass --sandbox none to work in the directory itself",
    before: async (facts, git) => {
      if (options.branch) await checkNewBranch(git, facts.top, options.branch);
      if (facts.dirty.length) {
        options.say(
          `iquest-bot fix: your checkout has uncommitted changes (${facts.dirty.length} path${facts.dirty.length === 1 ? "" : "s"}). They stay as they are: ` +
            `the agent works on a copy of HEAD (${facts.head.slice(0, 12)}) without them, and its change ` +
            (options.branch ? `goes on the new branch ${options.branch}.` : "is applied on top when it does not overlap them (else it is saved as a patch)."),
        );
      }
    },
  });
  try {
    if (opened.setup && !opened.setup.ok) options.say("setup: the agent starts anyway (it can read the failure by running the setup command itself)");
    await opened.copy.snapshot();
  } catch (err) {
    await opened.close();
    throw err;
  }
  const made = opened.copy;
  return {
    env: opened.env,
    description: `sandboxed copy of ${opened.facts.head.slice(0, 12)}, bubblewrap, no network`,
    plan: opened.plan,
    changes: {
      capture: () => made.patch(),
      paths: () => made.paths(),
      revert: (patch, signal) => applyInSandbox(opened.env, patch, { reverse: true, ...(signal ? { signal } : {}) }),
      apply: (patch, signal) => applyInSandbox(opened.env, patch, signal ? { signal } : {}),
    },
    async deliver(outcome, runId, task, notApplied) {
      const patch = await made.patch();
      if (!patch) return { diff: "", applied: false, note: "the agent changed nothing" };
      if (notApplied) {
        const patchFile = await made.savePatch(patch, `fix-${runId}`);
        return { diff: patch, applied: false, patchFile, note: `not applied (${notApplied}); saved to ${patchFile} (apply it with: git apply ${patchFile})` };
      }
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
    close: () => opened.close(),
  };
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
