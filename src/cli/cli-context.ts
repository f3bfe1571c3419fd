import type { ProxySettings } from "../shared/proxy.js";
import type { Redact } from "../shared/redact.js";
import type { CliModelEnv } from "./model-config.js";
import type { Output } from "./progress.js";

/** Everything the CLI needs from its process, passed in by src/main/cli.ts (or a test). */
export interface CliContext {
  stdout: Output;
  stderr: Output;
  /** Read for `--issue -`. */
  stdin?: AsyncIterable<Buffer | string>;
  cwd: string;
  /** MODEL_* settings. */
  modelEnv: CliModelEnv;
  /** The complete environment for the agent's commands: PATH, HOME, LANG; no secrets. */
  commandEnv: Readonly<Record<string, string>>;
  /** Every string printed passes it (the API key, tokens the model may echo). */
  redact: Redact;
  /** Ctrl-C. */
  signal?: AbortSignal;
  /** Per command run by the agent. */
  commandTimeoutMs?: number;
  /** Per test run (`--attempts`: the baseline, each verification); default 15 minutes. */
  testTimeoutMs?: number;
  /** $NPM_REGISTRY: for `upgrade`, and what sandboxed setup may reach besides EGRESS_ALLOW. */
  npmRegistry?: string;
  /** $EGRESS_ALLOW: what sandboxed setup may reach (default: the public registries). */
  egressAllow?: string;
  /** Longest dependency install in the sandbox (default 20 minutes, as the worker's). */
  setupTimeoutMs?: number;
  /** The bubblewrap binary (default: `bwrap` on the system PATH). */
  bwrapPath?: string;
  /** Where sandboxed runs make their copy (default: the system's temporary directory). */
  tmpDir?: string;
  /** stderr is a terminal: progress is one live line. */
  stderrIsTTY?: boolean;
  /** GOPROXY, GOPRIVATE, GONOPROXY, GOSUMDB, PIP_INDEX_URL: where the user's own tools get packages (upgrade's lookups, and setup in the sandbox). */
  registryEnv?: Readonly<Record<string, string | undefined>>;
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY: the sandbox's egress proxy chains to it (fetch already uses it). */
  upstreamProxy?: ProxySettings;
}

/** What a sandboxed copy's network needs from the context: the same for every command. */
export function sandboxNetworkOf(ctx: CliContext): { egressAllow?: string; registryEnv?: Readonly<Record<string, string | undefined>>; upstreamProxy?: ProxySettings } {
  return {
    ...(ctx.egressAllow ? { egressAllow: ctx.egressAllow } : {}),
    ...(ctx.registryEnv ? { registryEnv: ctx.registryEnv } : {}),
    ...(ctx.upstreamProxy ? { upstreamProxy: ctx.upstreamProxy } : {}),
  };
}
