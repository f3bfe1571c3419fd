import { existsSync } from "node:fs";
import { access, chmod, constants as fsConstants, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../agent/environment.js";
import { GROUP, HOSTS, PASSWD, hostRootLayout } from "./bwrap-args.js";
import { readConfined, writeConfined } from "./confined-fs.js";
import { SandboxPolicyError, SandboxUnavailableError } from "./errors.js";
import { removeTree } from "./fs-utils.js";
import { SYSTEM_PATH, runProcess } from "./run-process.js";
import { startEgressProxy, type EgressProxy, type EgressReport } from "./egress-proxy.js";
import { EGRESS_FORWARDER_SOURCE } from "./egress-forwarder.js";
import { DEFAULT_EGRESS_ALLOW, parseEgressAllow } from "./egress-rules.js";
import { execInSandbox, type SandboxRuntime } from "./sandbox-exec.js";
import { SYSTEM_CA_BUNDLE, sandboxPolicy, type HostFacts, type SandboxLimits, type SandboxOptions } from "./sandbox-policy.js";

export { DEFAULT_SANDBOX_LIMITS, sandboxPolicy, type SandboxLimits, type SandboxOptions, type SandboxPolicy } from "./sandbox-policy.js";

/**
 * The agent's Environment: every command runs under bubblewrap over the job's worktree. The
 * surface is small and the same for the worker and the CLI: create (this file, from the policy
 * that sandbox-policy.ts makes of the options), run (`exec`, sandbox-exec.ts), copy in and out
 * (`readFile`/`writeFile`, confined to the worktree), destroy (`close`).
 *
 * Protects against (see docs/SECURITY.md, "Workspace and sandbox"):
 * - reading secrets: the command's environment is a fixed list (never the worker's), and the app
 *   key, `.env`, WORKSPACE_DIR (mirrors, other jobs), the host's home and host processes are not
 *   in its mount or pid namespace. The token never enters (credentials.ts);
 * - network: never the host's. Every command has its own network namespace (only `lo`, so even
 *   127.0.0.1 services such as Redis are unreachable). `network: true` per command, only when the
 *   sandbox was created with `allowNetwork` (setup/install phase), runs the command behind the
 *   egress proxy: an HTTP proxy on a Unix socket bound in, which lets through the allowed
 *   registries and nothing else (egress-proxy.ts), and counts what it refused (`egressReport`);
 * - resource abuse: wall-clock timeout that kills the whole pid namespace; rlimits for processes
 *   (RLIMIT_NPROC, per dedicated uid), memory (RLIMIT_DATA), file size (RLIMIT_FSIZE), open files;
 *   a size-capped /tmp; output capped and the command killed past a hard limit; and a host-side
 *   monitor that names the limit that was hit and kills on a fork bomb or when the disk under
 *   the worktree runs low;
 * - root: when the worker runs as root, commands run as a pool uid (setpriv), mapped to uid 1000
 *   inside a user namespace, with no capabilities and no nested user namespaces.
 * It does not protect against kernel exploits (no seccomp filter), CPU hogging within the time
 * limit (no cgroup CPU quota), or abuse of an allowed registry (a setup step may download, and
 * publish to, what the allowed registries accept).
 *
 * With `mode: "none"` (SANDBOX=none, explicit only) commands run in the worktree directly, with
 * the same clean environment and rlimits but no isolation; `warning` says so for the job card.
 */

export interface SandboxEnvironment extends Environment {
  /** True under bubblewrap. */
  readonly isolated: boolean;
  /** The worktree as commands see it (/workspace in the sandbox; the host path without one). */
  readonly workdir: string;
  /** For the job card when commands are not isolated. */
  readonly warning?: string;
  readonly limits: SandboxLimits;
  /** What the egress proxy let through and refused so far (empty without network). */
  egressReport(): EgressReport;
}

export const NO_SANDBOX_WARNING =
  "Commands ran **without a sandbox** (`SANDBOX=none`): the repository's code and tests ran with the worker's " +
  "file system and network access. Only use this for repositories you trust.";

/**
 * Is bubblewrap present and able to create namespaces here, for the user commands will run as?
 * `asUser` probes through the same `setpriv` switch exec uses (a host may allow user namespaces
 * to root only).
 */
export async function probeBubblewrap(bwrapPath = "bwrap", asUser?: { uid: number; gid: number }): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const prefix = asUser ? ["setpriv", `--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, "--clear-groups", "--no-new-privs", "--"] : [];
    const argv = [...prefix, bwrapPath, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/usr", "/usr", ...(await hostRootLayout()), "--", "/usr/bin/env", "true"];
    const r = await runProcess(argv[0]!, argv.slice(1), { env: { PATH: SYSTEM_PATH }, timeoutMs: 10_000 });
    if (r.code === 0) return { ok: true };
    return { ok: false, reason: `bwrap cannot start (exit ${r.code}): ${r.stderr.toString().trim().slice(0, 300)}` };
  } catch (err) {
    return { ok: false, reason: `bwrap not found (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
}

/** The host facts the policy depends on. */
export async function hostFacts(): Promise<HostFacts> {
  return {
    isRoot: process.getuid?.() === 0,
    uid: process.getuid?.(),
    shell: (await access("/bin/bash", fsConstants.X_OK).then(() => true, () => false)) ? "/bin/bash" : "/bin/sh",
    caBundle: existsSync(SYSTEM_CA_BUNDLE),
  };
}

export async function createSandbox(options: SandboxOptions): Promise<SandboxEnvironment> {
  const policy = sandboxPolicy(options, await hostFacts());
  if (policy.isolated) {
    const probe = await probeBubblewrap(policy.bwrapPath, policy.user ?? undefined);
    if (!probe.ok) throw new SandboxUnavailableError(probe.reason);
  }
  await access(policy.worktree, fsConstants.R_OK);

  const stateDir = await mkdtemp(join(tmpdir(), "iquest-sandbox-"));
  await chmod(stateDir, 0o755);
  const etcFiles = { passwd: join(stateDir, "passwd"), group: join(stateDir, "group"), hosts: join(stateDir, "hosts") };
  await writeFile(etcFiles.passwd, PASSWD, { mode: 0o644 });
  await writeFile(etcFiles.group, GROUP, { mode: 0o644 });
  await writeFile(etcFiles.hosts, HOSTS, { mode: 0o644 });

  // Setup's only way out (isolated sandboxes): started with the sandbox, closed with it.
  let proxy: EgressProxy | undefined;
  let forwarder: string | undefined;
  if (policy.isolated && policy.allowNetwork) {
    forwarder = join(stateDir, "egress-forwarder.cjs");
    await writeFile(forwarder, EGRESS_FORWARDER_SOURCE, { mode: 0o644 });
    proxy = await startEgressProxy({
      rules: policy.egressRules ?? parseEgressAllow(DEFAULT_EGRESS_ALLOW),
      socketPath: join(stateDir, "egress.sock"),
      ...(options.egress?.resolve ? { resolve: options.egress.resolve } : {}),
      ...(options.egress?.dial ? { dial: options.egress.dial } : {}),
      ...(options.egress?.upstream ? { upstream: options.egress.upstream } : {}),
      ...(options.egress?.upstreamCa ? { upstreamCa: options.egress.upstreamCa } : {}),
    });
  }
  const runtime: SandboxRuntime = {
    rootLayout: policy.isolated ? await hostRootLayout() : [],
    etcFiles,
    ...(proxy && forwarder ? { egress: { socketPath: proxy.socketPath, forwarder } } : {}),
    // node for the forwarder: the worker's own when the sandbox can see it (under /usr).
    nodeInside: process.execPath.startsWith("/usr/") ? process.execPath : "node",
    running: new Set(),
    ...(options.redact ? { redact: options.redact } : {}),
  };

  let closed = false;
  return {
    root: policy.worktree,
    workdir: policy.workdir,
    description: policy.isolated ? "bwrap sandbox" : "local directory (no sandbox)",
    isolated: policy.isolated,
    limits: policy.limits,
    ...(policy.isolated ? {} : { warning: NO_SANDBOX_WARNING }),
    exec(command, opts) {
      if (closed) return Promise.reject(new SandboxPolicyError("the sandbox is closed"));
      return execInSandbox(policy, runtime, command, opts);
    },
    readFile: (path) => readConfined(policy.worktree, path),
    writeFile: (path, data) => writeConfined(policy.worktree, path, data, policy.user),
    egressReport: () => proxy?.report() ?? { allowed: 0, refused: [] },
    async close() {
      if (closed) return;
      closed = true;
      for (const cancel of [...runtime.running]) cancel();
      await proxy?.close().catch(() => {});
      await removeTree(stateDir).catch(() => {});
    },
  };
}
