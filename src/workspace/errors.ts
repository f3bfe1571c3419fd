import { IquestError, PermanentError, TransientError, UserFacingError } from "../shared/errors.js";
import { inlineCode } from "../shared/model-text.js";

/**
 * Typed errors of the workspace. Each says what happens next through its base class:
 * - `retry` (TransientError): a lock was busy, the network or the remote failed; try again later.
 * - `give-up` (PermanentError): the host cannot do this (no bubblewrap, a bug, a bad request).
 * - `tell-user` (UserFacingError): the agent's change or the branch state forbids publishing; the
 *   job card shows `userMessage`, nothing is retried.
 */

/** A git command failed. `stderr` is already redacted (no token, no credential URL). */
export class GitCommandError extends TransientError {
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(args: readonly string[], exitCode: number | null, stderr: string, options?: { userMessage?: string }) {
    super(`git ${args.slice(0, 3).join(" ")} failed (exit ${exitCode ?? "signal"}): ${stderr.trim().slice(-2000)}`, options);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** The commit the job needs is not on the remote (force-pushed away, or a wrong sha). */
export class CommitNotFoundError extends PermanentError {
  constructor(commit: string, repo: string) {
    super(`commit ${commit} is not in ${repo} (deleted or force-pushed away?)`, {
      userMessage: `The commit \`${commit.slice(0, 12)}\` is no longer in the repository; nothing to work on.`,
    });
  }
}

/** Another job holds a lock for too long. The job is retried with backoff. */
export class LockTimeoutError extends TransientError {
  constructor(path: string, timeoutMs: number) {
    super(`lock ${path} still busy after ${timeoutMs} ms`);
  }
}

/** bubblewrap is missing or cannot create namespaces, and SANDBOX=none was not chosen. */
export class SandboxUnavailableError extends PermanentError {
  constructor(reason: string) {
    super(
      `the bubblewrap sandbox is unavailable: ${reason}. Jobs are refused; install bubblewrap with user namespaces ` +
        `enabled, or set SANDBOX=none explicitly to run commands without isolation (not recommended).`,
      { userMessage: "This bot's host cannot start its sandbox, so the job was not run. An operator has to fix the host." },
    );
  }
}

/** A request the sandbox refuses by policy (e.g. network while network is off). */
export class SandboxPolicyError extends UserFacingError {}

/** A path that leaves the workspace root (`..`, absolute, or a symlink out). */
export class PathEscapeError extends UserFacingError {
  constructor(path: string) {
    super(`path "${path}" is outside the workspace`);
  }
}

/** The publish request itself is forbidden (branch, force, remote). Rejected before git runs. */
export class ForbiddenPushError extends PermanentError {
  constructor(message: string) {
    super(message, { userMessage: `Refused to push: ${message}` });
  }
}

export interface Violation {
  kind: "workflow" | "submodule" | "too-large" | "secret";
  path: string;
  detail: string;
}

/** The agent's change holds something the bot will not publish. Nothing was pushed. */
export class ForbiddenChangeError extends UserFacingError {
  readonly violations: readonly Violation[];
  constructor(violations: readonly Violation[]) {
    // A path is the agent's choice: shown so that no name can close the code span.
    const lines = violations.map((v) => `- ${inlineCode(v.path)}: ${v.detail}`);
    super(`publish refused: ${violations.map((v) => `${v.kind} ${v.path}`).join(", ")}`, {
      userMessage: `I did not push the change, because it contains things I am not allowed to publish:\n${lines.join("\n")}`,
    });
    this.violations = violations;
  }
}

/** The remote branch is not where the job found it. Pushing would overwrite someone's work. */
export class BranchMovedError extends UserFacingError {
  constructor(branch: string, expected: string | null, found: string | null) {
    const show = (s: string | null) => (s ? `\`${s.slice(0, 12)}\`` : "absent");
    super(`branch ${branch} moved: expected ${expected ?? "absent"}, found ${found ?? "absent"}`, {
      userMessage:
        `The branch \`${branch}\` changed while I worked (expected ${show(expected)}, found ${show(found)}), ` +
        `so I did not push. Run the command again to start from the new state.`,
    });
  }
}

/** The bot branch holds commits the bot did not make: a human edited it. Never overwritten. */
export class HumanCommitsError extends UserFacingError {
  constructor(branch: string, commits: ReadonlyArray<{ sha: string; author: string }>) {
    const list = commits
      .slice(0, 5)
      .map((c) => `\`${c.sha.slice(0, 12)}\` by ${c.author}`)
      .join(", ");
    super(`branch ${branch} has ${commits.length} commit(s) not made by the bot`, {
      userMessage:
        `The branch \`${branch}\` has commits I did not make (${list}${commits.length > 5 ? ", …" : ""}). ` +
        `I will not overwrite them. Delete the branch or move your commits elsewhere, then ask again.`,
    });
  }
}

export function isIquestError(err: unknown): err is IquestError {
  return err instanceof IquestError;
}
