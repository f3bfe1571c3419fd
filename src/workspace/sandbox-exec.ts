import { spawn } from "node:child_process";
import { isAbsolute, join, normalize, sep } from "node:path";
import type { ExecOptions, ExecResult, KillReason } from "../agent/environment.js";
import type { Redact } from "../shared/redact.js";
import { SANDBOX_WORKDIR, bwrapArgs } from "./bwrap-args.js";
import { behindEgress, egressEnv, loopbackRegistryPorts } from "./egress-forwarder.js";
import { PathEscapeError, SandboxPolicyError } from "./errors.js";
import { OutputCapture } from "./output-capture.js";
import { SYSTEM_PATH } from "./run-process.js";
import { freeDiskBytes, sampleProcesses, type Membership } from "./sandbox-monitor.js";
import { isValidEnvName, type SandboxPolicy } from "./sandbox-policy.js";

/**
 * One command under a sandbox policy (sandbox-policy.ts): bubblewrap with the policy's mounts,
 * environment and limits (or, without isolation, the shell in the worktree), behind the egress
 * forwarder when the call asks for network and the policy allows it; output captured and capped;
 * a monitor that names the limit a command hit (memory, processes, file size, disk) and kills the
 * whole pid namespace on a timeout, a cancel or a hard limit.
 */
export interface SandboxRuntime {
  /** The host root's layout for bwrap (/bin, /lib* as symlinks or binds). */
  rootLayout: string[];
  /** Generated /etc/passwd, /etc/group, /etc/hosts. */
  etcFiles: { passwd: string; group: string; hosts: string };
  /** The egress proxy's socket and the forwarder script, when the sandbox has network. */
  egress?: { socketPath: string; forwarder: string };
  /** node for the forwarder, as the sandbox sees it. */
  nodeInside: string;
  /** Cancels for the commands running now (close() calls them). */
  running: Set<() => void>;
  redact?: Redact;
}

const MEMORY_PATTERNS =
  /MemoryError|Cannot allocate memory|out of memory|std::bad_alloc|Allocation failed|heap out of memory|allocation failed|ENOMEM|memory allocation of \d+ bytes failed/i;
const FORK_PATTERNS = /fork: (?:retry: )?Resource temporarily unavailable|Cannot fork|can't fork|EAGAIN.*(?:spawn|fork)|Resource temporarily unavailable.*fork/i;

export async function execInSandbox(policy: SandboxPolicy, runtime: SandboxRuntime, command: string, opts: ExecOptions): Promise<ExecResult> {
  const { limits, isolated } = policy;
  if (opts.network && !policy.allowNetwork) {
    throw new SandboxPolicyError("network access is disabled for this job's sandbox (only the setup phase may use it, when configured)");
  }
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) throw new SandboxPolicyError(`invalid timeoutMs ${opts.timeoutMs}`);
  const timeoutMs = Math.min(opts.timeoutMs, limits.maxTimeoutMs);
  const maxOutput = opts.maxOutputBytes ?? limits.maxOutputBytes;
  const cwdRel = relativeCwd(opts.cwd);
  const env: Record<string, string> = { ...policy.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!isValidEnvName(k)) throw new SandboxPolicyError(`invalid environment variable name "${k}"`);
    env[k] = v;
  }
  const egress = runtime.egress;
  const network = isolated && !!opts.network && egress !== undefined;
  if (network) Object.assign(env, egressEnv());
  const argv = isolated
    ? [
        ...policy.prefix,
        policy.bwrapPath,
        ...bwrapArgs({
          rootLayout: runtime.rootLayout,
          worktree: policy.worktree,
          home: policy.home,
          etcFiles: runtime.etcFiles,
          toolchainPaths: policy.toolchainPaths,
          tmpBytes: limits.tmpBytes,
          ...(network ? { egress: { socket: egress!.socketPath, forwarder: egress!.forwarder } } : {}),
          cwd: cwdRel ? `${SANDBOX_WORKDIR}/${cwdRel}` : SANDBOX_WORKDIR,
          env,
          command: network ? behindEgress(command, runtime.nodeInside, policy.shell, loopbackRegistryPorts(policy.egressRules ?? [])) : command,
          shell: policy.shell,
          infoFd: 3,
        }),
      ]
    : [...policy.prefix, policy.shell, "-c", `exec 2>&1\n${command}`];

  const started = Date.now();
  const capture = new OutputCapture(maxOutput);
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: isolated ? { PATH: SYSTEM_PATH } : env,
      cwd: isolated ? "/" : cwdRel ? join(policy.worktree, cwdRel) : policy.worktree,
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
    runtime.running.add(cancel);

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
        const free = await freeDiskBytes(policy.worktree);
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
      runtime.running.delete(cancel);
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
      runtime.running.delete(cancel);
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
      if (runtime.redact) output = runtime.redact(output);
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
