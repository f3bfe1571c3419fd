import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { access, chmod, constants as fsConstants, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, normalize, isAbsolute, sep } from "node:path";
import type { Environment, ExecOptions, ExecResult, KillReason } from "../agent/environment.js";
import type { Redact } from "../shared/redact.js";
import { GROUP, HOSTS, PASSWD, SANDBOX_HOME, SANDBOX_WORKDIR, bwrapArgs, hostRootLayout } from "./bwrap-args.js";
import { readConfined, writeConfined } from "./confined-fs.js";
import { PathEscapeError, SandboxPolicyError, SandboxUnavailableError } from "./errors.js";
import { removeTree } from "./fs-utils.js";
import { OutputCapture } from "./output-capture.js";
import { SYSTEM_PATH, runProcess } from "./run-process.js";
import { freeDiskBytes, sampleProcesses, type Membership } from "./sandbox-monitor.js";
import { startEgressProxy, type EgressProxy, type EgressProxyOptions, type EgressReport } from "./egress-proxy.js";
import { EGRESS_FORWARDER_SOURCE, behindEgress, egressEnv } from "./egress-forwarder.js";
import { DEFAULT_EGRESS_ALLOW, parseEgressAllow, type EgressRule } from "./egress-rules.js";

/**
 * The agent's Environment: every command runs under bubblewrap over the job's worktree.
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

export interface SandboxLimits {
  /** RLIMIT_DATA per process (heap and private writable mappings). */
  memoryBytes: number;
  /** RLIMIT_NPROC: tasks of the sandbox uid. */
  pids: number;
  /** RLIMIT_FSIZE: largest file a command may write. */
  fileSizeBytes: number;
  /** Size of the /tmp tmpfs (counts against host memory). */
  tmpBytes: number;
  openFiles: number;
  /** Default output kept per command (head and tail), when the call does not say. */
  maxOutputBytes: number;
  /** Above this much output the command is killed ("output-limit"). */
  hardOutputBytes: number;
  /** Kill the command when the worktree's filesystem has less free space than this. */
  minFreeDiskBytes: number;
  /** Upper bound for any call's timeoutMs. */
  maxTimeoutMs: number;
  /**
   * How much nicer than the worker every command runs (`nice -n`; the result is at most 19).
   * Tests and builds are batch work: on a shared host they yield the CPU to the web process
   * (webhook latency) and the worker's own event loop (lock renewals, card writes) instead of
   * competing with them as equals.
   */
  niceness: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  memoryBytes: 4 * 1024 ** 3,
  pids: 512,
  fileSizeBytes: 1024 ** 3,
  tmpBytes: 1024 ** 3,
  openFiles: 4096,
  maxOutputBytes: 1024 ** 2,
  hardOutputBytes: 64 * 1024 ** 2,
  minFreeDiskBytes: 1024 ** 3,
  maxTimeoutMs: 2 * 60 * 60_000,
  niceness: 10,
};

export interface SandboxOptions {
  /** "none" runs without isolation and must be chosen explicitly (SANDBOX=none). */
  mode: "bwrap" | "none";
  /** The job's worktree (JobCheckout.worktree). */
  worktree: string;
  /** The job's HOME directory (JobCheckout.home); a per-command tmpfs when absent. */
  home?: string;
  /** Host uid/gid for commands (JobCheckout.uid); requires a root worker. Null: the worker's uid. */
  uid?: number | null;
  gid?: number | null;
  /** Extra read-only directories at the same path (toolchains outside /usr). */
  toolchainPaths?: readonly string[];
  /** Prepended to PATH inside (e.g. a toolchain's bin). */
  extraPath?: readonly string[];
  /** The config switch: commands may ask for network (setup phase only), through the egress proxy. */
  allowNetwork?: boolean;
  /**
   * What the egress proxy lets through (egress-rules.ts; default: the public registries of
   * DEFAULT_EGRESS_ALLOW). `resolve` and `dial` are for tests.
   */
  egress?: { rules: readonly EgressRule[]; resolve?: EgressProxyOptions["resolve"]; dial?: EgressProxyOptions["dial"] };
  /** Fixed extra variables for every command. Must hold no secrets. */
  baseEnv?: Record<string, string>;
  limits?: Partial<SandboxLimits>;
  bwrapPath?: string;
  /** Applied to all output (defence in depth: nothing secret should be there to begin with). */
  redact?: Redact;
}

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

const MEMORY_PATTERNS =
  /MemoryError|Cannot allocate memory|out of memory|std::bad_alloc|Allocation failed|heap out of memory|allocation failed|ENOMEM|memory allocation of \d+ bytes failed/i;
const FORK_PATTERNS = /fork: (?:retry: )?Resource temporarily unavailable|Cannot fork|can't fork|EAGAIN.*(?:spawn|fork)|Resource temporarily unavailable.*fork/i;
const VALID_ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

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

export async function createSandbox(options: SandboxOptions): Promise<SandboxEnvironment> {
  const limits: SandboxLimits = { ...DEFAULT_SANDBOX_LIMITS, ...options.limits };
  const isolated = options.mode === "bwrap";
  if (options.mode !== "bwrap" && options.mode !== "none") {
    throw new SandboxUnavailableError(`unknown sandbox mode "${String(options.mode)}"`);
  }
  const isRoot = process.getuid?.() === 0;
  const uid = options.uid ?? null;
  const gid = options.gid ?? uid;
  if (uid !== null && !isRoot && uid !== process.getuid?.()) {
    throw new SandboxUnavailableError("a sandbox uid was given but the worker is not root, so it cannot switch users");
  }
  const switchUser = uid !== null && isRoot && uid !== 0;
  if (isolated) {
    const probe = await probeBubblewrap(options.bwrapPath, switchUser ? { uid: uid!, gid: gid! } : undefined);
    if (!probe.ok) throw new SandboxUnavailableError(probe.reason);
  }
  await access(options.worktree, fsConstants.R_OK);

  const stateDir = await mkdtemp(join(tmpdir(), "iquest-sandbox-"));
  await chmod(stateDir, 0o755);
  const etcFiles = { passwd: join(stateDir, "passwd"), group: join(stateDir, "group"), hosts: join(stateDir, "hosts") };
  await writeFile(etcFiles.passwd, PASSWD, { mode: 0o644 });
  await writeFile(etcFiles.group, GROUP, { mode: 0o644 });
  await writeFile(etcFiles.hosts, HOSTS, { mode: 0o644 });
  const rootLayout = isolated ? await hostRootLayout() : [];
  const shell = (await access("/bin/bash", fsConstants.X_OK).then(() => true, () => false)) ? "/bin/bash" : "/bin/sh";

  const homeInside = isolated ? SANDBOX_HOME : (options.home ?? options.worktree);
  const workInside = isolated ? SANDBOX_WORKDIR : options.worktree;
  const baseEnv: Record<string, string> = {
    PATH: [...(options.extraPath ?? []), `${homeInside}/.venv/bin`, `${homeInside}/.local/bin`, SYSTEM_PATH].join(":"),
    HOME: homeInside,
    USER: "sandbox",
    LOGNAME: "sandbox",
    SHELL: shell,
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TERM: "dumb",
    TMPDIR: "/tmp",
    CI: "true",
    PAGER: "cat",
    GIT_PAGER: "cat",
    GIT_TERMINAL_PROMPT: "0",
    // No NO_COLOR / FORCE_COLOR: a repository's own tests of colour handling (commander.js has
    // some) read them, and would fail here but not in the project's CI. Output is parsed with
    // ANSI codes stripped, and with no TTY most tools print no colour anyway.
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
    // corepack (pinned yarn and pnpm): never ask, keep what it fetched in HOME.
    COREPACK_ENABLE_DOWNLOAD_PROMPT: "0",
    COREPACK_HOME: `${homeInside}/.cache/node/corepack`,
    // node's own fetch (corepack) trusts only its bundled roots; the host's store (bound in
    // read-only with /etc/ssl) may hold the organisation's CA, as npm and pip already use it.
    ...(existsSync(SYSTEM_CA_BUNDLE) ? { NODE_EXTRA_CA_CERTS: SYSTEM_CA_BUNDLE } : {}),
    PYTHONDONTWRITEBYTECODE: "1",
    ...options.baseEnv,
  };
  for (const name of Object.keys(baseEnv)) {
    if (!VALID_ENV_NAME.test(name)) throw new Error(`invalid environment variable name "${name}"`);
  }

  const limitArgs = [
    `--nproc=${limits.pids}`,
    `--data=${limits.memoryBytes}`,
    `--fsize=${limits.fileSizeBytes}`,
    `--nofile=${limits.openFiles}`,
    "--core=0",
  ];
  const prefix = [
    ...(switchUser ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--no-new-privs", "--"] : []),
    "prlimit",
    ...limitArgs,
    "--",
    "nice",
    "-n",
    String(Math.max(0, Math.min(19, Math.trunc(limits.niceness)))),
  ];

  // Setup's only way out (isolated sandboxes): started with the sandbox, closed with it.
  let egress: { proxy: EgressProxy; forwarder: string } | undefined;
  if (isolated && options.allowNetwork) {
    const forwarder = join(stateDir, "egress-forwarder.cjs");
    await writeFile(forwarder, EGRESS_FORWARDER_SOURCE, { mode: 0o644 });
    const proxy = await startEgressProxy({
      rules: options.egress?.rules ?? parseEgressAllow(DEFAULT_EGRESS_ALLOW),
      socketPath: join(stateDir, "egress.sock"),
      ...(options.egress?.resolve ? { resolve: options.egress.resolve } : {}),
      ...(options.egress?.dial ? { dial: options.egress.dial } : {}),
    });
    egress = { proxy, forwarder };
  }
  // node for the forwarder: the worker's own when the sandbox can see it (under /usr).
  const nodeInside = process.execPath.startsWith("/usr/") ? process.execPath : "node";

  let closed = false;
  const running = new Set<() => void>();

  async function exec(command: string, opts: ExecOptions): Promise<ExecResult> {
    if (closed) throw new SandboxPolicyError("the sandbox is closed");
    if (opts.network && !options.allowNetwork) {
      throw new SandboxPolicyError("network access is disabled for this job's sandbox (only the setup phase may use it, when configured)");
    }
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) throw new SandboxPolicyError(`invalid timeoutMs ${opts.timeoutMs}`);
    const timeoutMs = Math.min(opts.timeoutMs, limits.maxTimeoutMs);
    const maxOutput = opts.maxOutputBytes ?? limits.maxOutputBytes;
    const cwdRel = relativeCwd(opts.cwd);
    const env = { ...baseEnv };
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (!VALID_ENV_NAME.test(k)) throw new SandboxPolicyError(`invalid environment variable name "${k}"`);
      env[k] = v;
    }
    const network = isolated && !!opts.network && egress !== undefined;
    if (network) Object.assign(env, egressEnv());
    const argv = isolated
      ? [
          ...prefix,
          options.bwrapPath ?? "bwrap",
          ...bwrapArgs({
            rootLayout,
            worktree: options.worktree,
            home: options.home,
            etcFiles,
            toolchainPaths: options.toolchainPaths ?? [],
            tmpBytes: limits.tmpBytes,
            ...(network ? { egress: { socket: egress!.proxy.socketPath, forwarder: egress!.forwarder } } : {}),
            cwd: cwdRel ? `${SANDBOX_WORKDIR}/${cwdRel}` : SANDBOX_WORKDIR,
            env,
            command: network ? behindEgress(command, nodeInside, shell) : command,
            shell,
            infoFd: 3,
          }),
        ]
      : [...prefix, shell, "-c", `exec 2>&1\n${command}`];

    const started = Date.now();
    const capture = new OutputCapture(maxOutput);
    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        env: isolated ? { PATH: SYSTEM_PATH } : env,
        cwd: isolated ? "/" : cwdRel ? join(options.worktree, cwdRel) : options.worktree,
        stdio: isolated ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
        detached: true,
      });
      let killed: KillReason | undefined;
      let killNote = "";
      let member: Membership | undefined = isolated ? undefined : child.pid !== undefined ? { sessionId: child.pid } : undefined;
      let sawMemoryPressure = false;
      let sawPidsPressure = false;

      const killAll = async (reason: KillReason, note: string) => {
        if (killed) return;
        killed = reason;
        killNote = note;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          // gone
        }
        // The pid namespace dies with bwrap (--die-with-parent); kill stragglers we can still see.
        if (member) {
          const { pids } = await sampleProcesses(member).catch(() => ({ pids: [] as number[] }));
          for (const pid of pids) {
            try {
              process.kill(pid, "SIGKILL");
            } catch {
              // gone
            }
          }
        }
      };
      const cancel = () => void killAll("cancelled", "cancelled");
      running.add(cancel);

      const onData = (chunk: Buffer) => {
        capture.push(chunk);
        if (capture.totalBytes > limits.hardOutputBytes) {
          void killAll("output-limit", `output passed ${formatBytes(limits.hardOutputBytes)}`);
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      if (isolated) {
        let info = "";
        (child.stdio[3] as NodeJS.ReadableStream).on("data", (c: Buffer) => {
          info += c.toString();
          const m = /"pid-namespace":\s*(\d+)/.exec(info);
          if (m && !member) member = { pidNamespace: Number(m[1]) };
        });
      }

      const timer = setTimeout(() => void killAll("timeout", `ran past the ${formatMs(timeoutMs)} time limit`), timeoutMs);
      const onAbort = () => void killAll("cancelled", "cancelled");
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });

      let sampling = false;
      const monitor = setInterval(async () => {
        if (sampling || killed) return;
        sampling = true;
        try {
          if (member) {
            const s = await sampleProcesses(member);
            if (s.maxDataBytes >= limits.memoryBytes * 0.85) sawMemoryPressure = true;
            // RLIMIT_NPROC also counts the outer bwrap process, which is outside the namespace.
            if (s.tasks >= limits.pids - 2) {
              sawPidsPressure = true;
              await killAll("pids", `reached the process limit (${limits.pids})`);
            }
          }
          const free = await freeDiskBytes(options.worktree);
          if (free !== undefined && free < limits.minFreeDiskBytes) {
            await killAll("file-size", `the disk under the workspace is nearly full (${formatBytes(free)} left)`);
          }
        } finally {
          sampling = false;
        }
      }, 150);

      child.once("error", (err) => {
        clearTimeout(timer);
        clearInterval(monitor);
        running.delete(cancel);
        opts.signal?.removeEventListener("abort", onAbort);
        reject(err);
      });
      if (!isolated) {
        // Without a pid namespace, background children would keep the pipes open: end them with the shell.
        child.once("exit", () => {
          try {
            if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
          } catch {
            // gone
          }
        });
      }
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        clearInterval(monitor);
        running.delete(cancel);
        opts.signal?.removeEventListener("abort", onAbort);
        let output = capture.text();
        let reason = killed;
        let note = killNote;
        const exitCode = killed ? null : code ?? (signal ? 128 + signalNumber(signal) : null);
        if (!reason && exitCode !== 0) {
          const tail = output.slice(-8192);
          if (exitCode === 128 + 25 || /File size limit exceeded/.test(tail)) {
            reason = "file-size";
            note = `wrote a file over the ${formatBytes(limits.fileSizeBytes)} file size limit`;
          } else if (MEMORY_PATTERNS.test(tail) || sawMemoryPressure) {
            reason = "memory";
            note = `ran out of memory (limit ${formatBytes(limits.memoryBytes)} per process)`;
          } else if (sawPidsPressure || FORK_PATTERNS.test(tail)) {
            reason = "pids";
            note = `reached the process limit (${limits.pids})`;
          }
        }
        if (reason) output += `${output.endsWith("\n") || !output ? "" : "\n"}[sandbox: stopped (${reason}): ${note}]\n`;
        if (options.redact) output = options.redact(output);
        resolve({
          exitCode,
          output,
          truncated: capture.truncated,
          durationMs: Date.now() - started,
          ...(reason ? { killed: reason } : {}),
        });
      });
    });
  }

  const owner = switchUser ? { uid: uid!, gid: gid! } : null;
  return {
    root: options.worktree,
    workdir: workInside,
    description: isolated ? "bwrap sandbox" : "local directory (no sandbox)",
    isolated,
    limits,
    ...(isolated ? {} : { warning: NO_SANDBOX_WARNING }),
    exec,
    readFile: (path) => readConfined(options.worktree, path),
    writeFile: (path, data) => writeConfined(options.worktree, path, data, owner),
    egressReport: () => egress?.proxy.report() ?? { allowed: 0, refused: [] },
    async close() {
      if (closed) return;
      closed = true;
      for (const cancel of [...running]) cancel();
      await egress?.proxy.close().catch(() => {});
      await removeTree(stateDir).catch(() => {});
    },
  };
}

function relativeCwd(cwd: string | undefined): string {
  if (!cwd || cwd === "." || cwd === "/") return "";
  if (cwd.includes("\0") || isAbsolute(cwd)) throw new PathEscapeError(cwd);
  const norm = normalize(cwd).replace(/\/+$/, "");
  if (norm === ".." || norm.startsWith(`..${sep}`)) throw new PathEscapeError(cwd);
  return norm === "." ? "" : norm;
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6, SIGXFSZ: 25, SIGBUS: 7, SIGINT: 2 };
  return table[signal] ?? 0;
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${Math.round(n / 1024 ** 2)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

function formatMs(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 100) / 10} s`;
}
