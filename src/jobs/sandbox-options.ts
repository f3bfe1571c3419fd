import type { Redact } from "../shared/redact.js";
import type { JobCheckout } from "../workspace/checkout.js";
import { DEFAULT_EGRESS_ALLOW, parseEgressAllow } from "../workspace/egress-rules.js";
import type { SandboxOptions } from "../workspace/sandbox-policy.js";
import type { JobServices } from "./services.js";

/**
 * The sandbox every job step opens on a checkout (setup, tests, the agent, an upgrade group's
 * install): the worker's mode, the checkout's uid, the operator's toolchains, and, with network,
 * the egress proxy's rules and the worker's own upstream proxy. One place, so that no kind of job
 * can open a sandbox that skips a setting (an upgrade group once dialled registries directly
 * behind a corporate proxy that way).
 */
export function jobSandboxOptions(services: JobServices, checkout: Pick<JobCheckout, "worktree" | "home" | "uid" | "gid">, allowNetwork: boolean, redact: Redact): SandboxOptions {
  const { egressRules, egressUpstream } = services.sandbox;
  return {
    mode: services.sandbox.mode,
    worktree: checkout.worktree,
    home: checkout.home,
    uid: checkout.uid,
    gid: checkout.gid,
    allowNetwork,
    ...(egressRules || egressUpstream
      ? { egress: { rules: egressRules ?? parseEgressAllow(DEFAULT_EGRESS_ALLOW), ...(egressUpstream ? { upstream: egressUpstream } : {}) } }
      : {}),
    toolchainPaths: services.sandbox.toolchainPaths ?? [],
    extraPath: services.sandbox.extraPath ?? [],
    ...(services.sandbox.baseEnv ? { baseEnv: services.sandbox.baseEnv } : {}),
    redact,
  };
}
