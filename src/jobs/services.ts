import type { BotIdentity } from "../github/bot-identity.js";
import type { GitHub } from "../github/types.js";
import type { WorkspaceManager } from "../workspace/checkout.js";
import type { ProxySettings } from "../shared/proxy.js";
import type { EgressRule } from "../workspace/egress-rules.js";
import type { ReviewMemory } from "./review/memory.js";
import type { UpgradeSettings } from "./upgrade/settings.js";

/**
 * What the worker process gives every job besides its own context: the workspace (mirror
 * cache and checkouts), how to sandbox, and the bot's identity. (Where trajectories go and the
 * run viewer's links are the context's `runs`.) Built once per worker by src/main/start-worker.ts.
 */
export interface JobServices {
  workspace: WorkspaceManager;
  sandbox: {
    mode: "bwrap" | "none";
    /** Per-command timeout for setup and tests. */
    testTimeoutMs: number;
    setupTimeoutMs: number;
    /**
     * What setup may reach through the egress proxy (EGRESS_ALLOW plus the operator's registries);
     * undefined: the public registries; empty: no network for setup at all.
     */
    egressRules?: readonly EgressRule[];
    /** The worker's HTTPS_PROXY / HTTP_PROXY / NO_PROXY: the egress proxy chains to it. */
    egressUpstream?: ProxySettings;
    /** SANDBOX_TOOLCHAINS and SANDBOX_PATH: operator toolchains outside /usr. */
    toolchainPaths?: readonly string[];
    extraPath?: readonly string[];
    /** Fixed variables for every sandboxed command (no secrets): COREPACK_NPM_REGISTRY. */
    baseEnv?: Record<string, string>;
  };
  /** Resolved once per worker; takes an installation client (the bot user's id needs one). */
  botIdentity: (github: GitHub) => Promise<BotIdentity>;
  /** Exact secret values (keys, webhook secret) that must never be published or shown. */
  knownSecrets: readonly string[];
  /** What reviews remember per PR (Redis). Absent: the markers in the bot's reviews serve alone. */
  reviewMemory?: ReviewMemory;
  /** Upgrade jobs: registries and the metadata store (defaults: npmjs only, memo per run). */
  upgrade?: UpgradeSettings;
}
