import { createHmac, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { redact as patternRedact, type Redact } from "../shared/redact.js";
import { createRunStore, isValidJobId, type RunMeta, type RunStore } from "./run-store.js";

/**
 * Links to the run viewer, and where each run's files go. The jobs call this:
 *
 *   const links = runLinks(env, redact);
 *   const trajectory = openTrajectoryFile(links.pathFor(jobId), { redact });
 *   links.store.writeMeta({ jobId, kind: "fix", repo: "o/r", private: repo.private, title: "fix for #12" });
 *   card text: links.urlFor(jobId)  →  "https://bot.example.com/runs/<jobId>?t=<token>" (undefined without PUBLIC_URL)
 *   at the end: links.store.writeDiff(jobId, diff)
 *
 * The token is an HMAC of the job id under a key derived from the webhook secret, so a link
 * cannot be guessed or forged for another job, and rotating the webhook secret revokes every
 * link. A token opens only runs of public repositories; private runs need the admin login too
 * (see src/ops/run-viewer.ts).
 */
export interface RunLinkSettings {
  PUBLIC_URL?: string;
  RUNS_DIR?: string;
  DATA_DIR: string;
  WEBHOOK_SECRET?: string;
}

export interface RunLinks {
  readonly store: RunStore;
  /** The trajectory file of a job (its directory is created). */
  pathFor(jobId: string): string;
  /** The viewer URL for a job card; undefined without PUBLIC_URL or a webhook secret. */
  urlFor(jobId: string): string | undefined;
  /** The link token for a job id; undefined without a webhook secret. */
  tokenFor(jobId: string): string | undefined;
  verify(jobId: string, token: string | null | undefined): boolean;
  writeMeta(meta: RunMeta): void;
}

export function runsDirOf(settings: Pick<RunLinkSettings, "RUNS_DIR" | "DATA_DIR">): string {
  return settings.RUNS_DIR ?? join(settings.DATA_DIR, "runs");
}

export function runLinks(settings: RunLinkSettings, redact: Redact = patternRedact): RunLinks {
  const store = createRunStore(runsDirOf(settings), redact);
  // A key of its own, derived, so the webhook secret itself never signs anything but webhooks.
  const key = settings.WEBHOOK_SECRET ? createHmac("sha256", settings.WEBHOOK_SECRET).update("iquest-bot run links v1").digest() : undefined;
  const tokenFor = (jobId: string) => (key ? createHmac("sha256", key).update(jobId).digest("base64url").slice(0, 32) : undefined);
  const base = settings.PUBLIC_URL?.replace(/\/+$/, "");
  return {
    store,
    pathFor: (jobId) => store.trajectoryPath(jobId),
    tokenFor,
    urlFor(jobId) {
      const token = tokenFor(jobId);
      if (!base || !token || !isValidJobId(jobId)) return undefined;
      return `${base}/runs/${encodeURIComponent(jobId)}?t=${token}`;
    },
    verify(jobId, token) {
      const expected = tokenFor(jobId);
      if (!expected || !token || token.length !== expected.length) return false;
      return timingSafeEqual(Buffer.from(token), Buffer.from(expected));
    },
    writeMeta: (meta) => store.writeMeta(meta),
  };
}
