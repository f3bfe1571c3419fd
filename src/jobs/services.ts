import type { BotIdentity } from "../github/bot-identity.js";
import type { GitHub } from "../github/types.js";
import type { WorkspaceManager } from "../workspace/checkout.js";
import type { UpgradeSettings } from "./upgrade/settings.js";

/**
 * What the worker process gives every job besides its own context: the workspace (mirror
 * cache and checkouts), how to sandbox, where trajectories go, and the bot's identity. Built
 * once per worker by src/main/start-worker.ts.
 */
export interface JobServices {
  workspace: WorkspaceManager;
  sandbox: {
    mode: "bwrap" | "none";
    /** Per-command timeout for setup and tests. */
    testTimeoutMs: number;
    setupTimeoutMs: number;
  };
  /** Directory for trajectory files (`<jobId>.jsonl`), read by the run viewer. */
  runsDir: string;
  /** A link to the run viewer for a job, when a public URL is configured. */
  runUrl?: (jobId: string) => string | undefined;
  /** Resolved once per worker; takes an installation client (the bot user's id needs one). */
  botIdentity: (github: GitHub) => Promise<BotIdentity>;
  /** Exact secret values (keys, webhook secret) that must never be published or shown. */
  knownSecrets: readonly string[];
  /** Upgrade jobs: registries and the metadata store (defaults: npmjs only, memo per run). */
  upgrade?: UpgradeSettings;
}
