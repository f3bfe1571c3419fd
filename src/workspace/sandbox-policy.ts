import type { Redact } from "../shared/redact.js";
import { SANDBOX_HOME, SANDBOX_WORKDIR } from "./bwrap-args.js";
import type { EgressProxyOptions } from "./egress-proxy.js";
import type { EgressRule } from "./egress-rules.js";
import { SandboxUnavailableError } from "./errors.js";
import { SYSTEM_PATH } from "./run-process.js";

/**
 * What a sandbox allows, as data: the worker's jobs and the CLI build it from the same options
 * through the same pure function, so what a command may see, reach and use cannot drift between
 * the two. createSandbox (sandbox.ts) turns a policy into a running sandbox; sandbox-exec.ts runs
 * one command under it.
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
  egress?: {
    rules: readonly EgressRule[];
    resolve?: EgressProxyOptions["resolve"];
    dial?: EgressProxyOptions["dial"];
    /** The worker's outbound proxy, which the egress proxy chains to (EgressProxyOptions.upstream). */
    upstream?: EgressProxyOptions["upstream"];
    upstreamCa?: EgressProxyOptions["upstreamCa"];
  };
  /** Fixed extra variables for every command. Must hold no secrets. */
  baseEnv?: Record<string, string>;
  limits?: Partial<SandboxLimits>;
  bwrapPath?: string;
  /** Applied to all output (defence in depth: nothing secret should be there to begin with). */
  redact?: Redact;
}

/** What the policy needs to know about the host; `hostFacts()` reads it. */
export interface HostFacts {
  isRoot: boolean;
  /** The worker's own uid. */
  uid: number | undefined;
  /** /bin/bash when the host has it, else /bin/sh. */
  shell: string;
  /** The host has the system CA bundle (bound in with /etc/ssl). */
  caBundle: boolean;
}

export interface SandboxPolicy {
  /** Under bubblewrap (false: SANDBOX=none, commands run in the worktree directly). */
  isolated: boolean;
  limits: SandboxLimits;
  /** Host paths: the worktree (read-write), HOME (read-write), toolchains (read-only). */
  worktree: string;
  home?: string;
  toolchainPaths: readonly string[];
  /** The worktree and HOME as commands see them. */
  workdir: string;
  homeInside: string;
  /** Commands may ask for network (setup), through the egress proxy only. */
  allowNetwork: boolean;
  egressRules?: readonly EgressRule[];
  /** The host user commands run as (a root worker's pool uid); null: the worker's own. */
  user: { uid: number; gid: number } | null;
  bwrapPath: string;
  shell: string;
  /** Every command's environment, before a call's own variables and the egress proxy's. */
  env: Readonly<Record<string, string>>;
  /** In front of every command: the user switch, the rlimits, the niceness. */
  prefix: readonly string[];
}

const VALID_ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export function isValidEnvName(name: string): boolean {
  return VALID_ENV_NAME.test(name);
}

/** The policy for these options on this host. Pure; throws when the options cannot be honoured. */
export function sandboxPolicy(options: SandboxOptions, host: HostFacts): SandboxPolicy {
  const limits: SandboxLimits = { ...DEFAULT_SANDBOX_LIMITS, ...options.limits };
  if (options.mode !== "bwrap" && options.mode !== "none") {
    throw new SandboxUnavailableError(`unknown sandbox mode "${String(options.mode)}"`);
  }
  const isolated = options.mode === "bwrap";
  const uid = options.uid ?? null;
  const gid = options.gid ?? uid;
  if (uid !== null && !host.isRoot && uid !== host.uid) {
    throw new SandboxUnavailableError("a sandbox uid was given but the worker is not root, so it cannot switch users");
  }
  const user = uid !== null && host.isRoot && uid !== 0 ? { uid, gid: gid! } : null;
  const homeInside = isolated ? SANDBOX_HOME : (options.home ?? options.worktree);
  const env: Record<string, string> = {
    PATH: [...(options.extraPath ?? []), `${homeInside}/.venv/bin`, `${homeInside}/.local/bin`, SYSTEM_PATH].join(":"),
    HOME: homeInside,
    USER: "sandbox",
    LOGNAME: "sandbox",
    SHELL: host.shell,
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
    // …and never add a `packageManager` line to the repository's package.json (corepack ≥ 0.31 does on first use).
    COREPACK_ENABLE_AUTO_PIN: "0",
    COREPACK_HOME: `${homeInside}/.cache/node/corepack`,
    // node's own fetch (corepack) trusts only its bundled roots; the host's store (bound in
    // read-only with /etc/ssl) may hold the organisation's CA, as npm and pip already use it.
    ...(host.caBundle ? { NODE_EXTRA_CA_CERTS: SYSTEM_CA_BUNDLE } : {}),
    PYTHONDONTWRITEBYTECODE: "1",
    // No keyring to ask (no D-Bus here): poetry (and pip) would otherwise fail "Failed to unlock the item!".
    PYTHON_KEYRING_BACKEND: "keyring.backends.null.Keyring",
    ...options.baseEnv,
  };
  for (const name of Object.keys(env)) {
    if (!VALID_ENV_NAME.test(name)) throw new Error(`invalid environment variable name "${name}"`);
  }
  const prefix = [
    ...(user ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--no-new-privs", "--"] : []),
    "prlimit",
    `--nproc=${limits.pids}`,
    `--data=${limits.memoryBytes}`,
    `--fsize=${limits.fileSizeBytes}`,
    `--nofile=${limits.openFiles}`,
    "--core=0",
    "--",
    "nice",
    "-n",
    String(Math.max(0, Math.min(19, Math.trunc(limits.niceness)))),
  ];
  return {
    isolated,
    limits,
    worktree: options.worktree,
    ...(options.home ? { home: options.home } : {}),
    toolchainPaths: options.toolchainPaths ?? [],
    workdir: isolated ? SANDBOX_WORKDIR : options.worktree,
    homeInside,
    allowNetwork: options.allowNetwork === true,
    ...(options.egress ? { egressRules: options.egress.rules } : {}),
    user,
    bwrapPath: options.bwrapPath ?? "bwrap",
    shell: host.shell,
    env,
    prefix,
  };
}
