import { spawn } from "node:child_process";
import { createRedactor, type Redact } from "../shared/redact.js";
import type { GitProtocol } from "./credentials.js";
import { GitCommandError } from "./errors.js";
import { SYSTEM_PATH, deprioritize, runProcess } from "./run-process.js";

/**
 * Host-side git with a clean, fixed configuration.
 *
 * Every git the worker runs (mirror fetch, checkout, publish) goes through here, because host-side
 * git is where repository-controlled configuration could run code with the worker's rights
 * (threat T9). So:
 * - no system or global config (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`) and a HOME
 *   that is an empty directory we own;
 * - hooks, fsmonitor, credential helpers, askpass, submodule recursion, auto-gc and signing are
 *   switched off on the command line, which beats any repository config;
 * - only the listed transports are allowed (`GIT_ALLOW_PROTOCOL`): never `ext::`, ssh or git://;
 * - the environment is built from scratch: nothing from the worker's env is inherited;
 * - stderr is redacted (token values and URL credentials) before it reaches an error or a log.
 *
 * Callers also never point this git at a directory the sandbox could write as its git dir: the
 * sandbox's own `.git` is never used on the host (see checkout.ts and publish.ts).
 */

export interface GitRunnerOptions {
  /** An empty directory owned by the worker, used as HOME. */
  homeDir: string;
  /** Transports git may use (GIT_ALLOW_PROTOCOL). Production: ["https"] (or ["http"] for a GHE over http). */
  protocols: readonly GitProtocol[];
  gitBinary?: string;
  path?: string;
  redact?: Redact;
  defaultTimeoutMs?: number;
  /**
   * The network settings git's curl reads (proxy.ts's `proxyEnvFor`: http_proxy, https_proxy,
   * no_proxy; GIT_SSL_CAINFO for a custom CA). Nothing else from the worker's env reaches git.
   */
  networkEnv?: Readonly<Record<string, string>>;
}

export interface GitCall {
  cwd?: string;
  /** Extra environment: auth (credentials.ts), GIT_INDEX_FILE, identities. */
  env?: Record<string, string>;
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Exit codes that are not failures (e.g. 1 for `cat-file -e`, `diff --quiet`). */
  okExitCodes?: readonly number[];
  /** Exact values to redact from any error text (the token and its base64 form). */
  secrets?: readonly string[];
}

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Git {
  (args: readonly string[], call?: GitCall): Promise<GitResult>;
  /** `git <from> | git <to>` (call.input feeds `from`), e.g. pack-objects into index-pack; returns the second's result. */
  pipe(from: readonly string[], to: readonly string[], call?: GitCall): Promise<GitResult>;
  /** The -c flags and environment used, for tests that assert the hardening. */
  readonly hardening: { configArgs: readonly string[]; env: Readonly<Record<string, string>> };
}

const HARDENING_CONFIG: ReadonlyArray<[string, string]> = [
  ["core.hooksPath", "/dev/null"],
  ["core.fsmonitor", "false"],
  ["core.untrackedCache", "false"],
  ["core.askPass", ""],
  ["core.sshCommand", "false"],
  ["credential.helper", ""],
  ["protocol.ext.allow", "never"],
  ["submodule.recurse", "false"],
  ["fetch.recurseSubmodules", "false"],
  ["push.recurseSubmodules", "no"],
  ["gc.auto", "0"],
  ["gc.autoDetach", "false"],
  ["maintenance.auto", "false"],
  ["commit.gpgSign", "false"],
  ["tag.gpgSign", "false"],
  ["core.pager", "cat"],
  ["color.ui", "false"],
  ["advice.detachedHead", "false"],
  ["init.templateDir", ""],
  ["core.quotePath", "false"],
];

export function createGit(options: GitRunnerOptions): Git {
  const binary = options.gitBinary ?? "git";
  const configArgs = HARDENING_CONFIG.flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  const baseEnv: Record<string, string> = {
    PATH: options.path ?? SYSTEM_PATH,
    HOME: options.homeDir,
    XDG_CONFIG_HOME: options.homeDir,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: options.protocols.join(":"),
    GIT_PROTOCOL_FROM_USER: "0",
    GIT_NO_REPLACE_OBJECTS: "1",
    ...options.networkEnv,
    LC_ALL: "C",
    LANG: "C",
  };
  const defaultTimeout = options.defaultTimeoutMs ?? 10 * 60_000;
  const redactorFor = (secrets: readonly string[] | undefined): Redact => {
    const exact = createRedactor(secrets ?? []);
    return (text: string) => (options.redact ?? ((t: string) => t))(exact(text));
  };

  const git = (async (args: readonly string[], call: GitCall = {}): Promise<GitResult> => {
    const result = await runProcess(binary, [...configArgs, ...args], {
      env: { ...baseEnv, ...call.env },
      cwd: call.cwd,
      input: call.input,
      timeoutMs: call.timeoutMs ?? defaultTimeout,
      signal: call.signal,
    });
    const stdout = result.stdout.toString("utf8");
    const stderr = result.stderr.toString("utf8");
    const ok = result.code === 0 || (result.code !== null && (call.okExitCodes ?? []).includes(result.code));
    if (!ok) {
      const r = redactorFor(call.secrets);
      const why = result.timedOut ? "timed out; " : result.aborted ? "aborted; " : "";
      throw new GitCommandError(args, result.code, r(why + stderr));
    }
    return { code: result.code ?? -1, stdout, stderr };
  }) as Git;

  git.pipe = (from, to, call = {}) =>
    new Promise<GitResult>((resolve, reject) => {
      const env = { ...baseEnv, ...call.env };
      const a = spawn(binary, [...configArgs, ...from], {
        env,
        cwd: call.cwd,
        stdio: [call.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        detached: true,
      });
      if (call.input !== undefined) {
        a.stdin!.on("error", () => {});
        a.stdin!.end(call.input);
      }
      const b = spawn(binary, [...configArgs, ...to], { env, cwd: call.cwd, stdio: ["pipe", "pipe", "pipe"], detached: true });
      deprioritize(a.pid);
      deprioritize(b.pid);
      a.stdout!.pipe(b.stdin);
      b.stdin.on("error", () => {});
      const errA: Buffer[] = [];
      const errB: Buffer[] = [];
      const outB: Buffer[] = [];
      a.stderr!.on("data", (c: Buffer) => errA.length < 1000 && errA.push(c));
      b.stderr.on("data", (c: Buffer) => errB.length < 1000 && errB.push(c));
      b.stdout.on("data", (c: Buffer) => outB.push(c));
      const killBoth = () => {
        for (const p of [a, b]) {
          try {
            if (p.pid !== undefined) process.kill(-p.pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      };
      const timer = setTimeout(killBoth, call.timeoutMs ?? defaultTimeout);
      call.signal?.addEventListener("abort", killBoth, { once: true });
      let codeA: number | null | undefined;
      let codeB: number | null | undefined;
      let failed = false;
      const finish = () => {
        if (codeA === undefined || codeB === undefined || failed) return;
        clearTimeout(timer);
        call.signal?.removeEventListener("abort", killBoth);
        const r = redactorFor(call.secrets);
        if (codeA !== 0) return reject(new GitCommandError(from, codeA, r(Buffer.concat(errA).toString())));
        if (codeB !== 0) return reject(new GitCommandError(to, codeB, r(Buffer.concat(errB).toString())));
        resolve({ code: 0, stdout: Buffer.concat(outB).toString(), stderr: Buffer.concat(errB).toString() });
      };
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        clearTimeout(timer);
        killBoth();
        reject(e);
      };
      a.once("error", fail);
      b.once("error", fail);
      a.once("close", (code) => {
        codeA = code;
        finish();
      });
      b.once("close", (code) => {
        codeB = code;
        finish();
      });
    });

  Object.defineProperty(git, "hardening", { value: { configArgs, env: baseEnv } });
  return git;
}

/** A 40-hex (sha1) or 64-hex (sha256) object id. */
export const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
