import type { CancelResult, EnqueueResult, JobEnqueuer, RepoRef } from "../../src/queue/enqueue.js";
import type { JobKind, JobPayload } from "../../src/queue/payloads.js";
import { jobPayloadSchema, targetKey } from "../../src/queue/payloads.js";

/** An in-memory JobEnqueuer for handler unit tests: it validates and records every call. */
export class RecordingEnqueuer implements JobEnqueuer {
  jobs: JobPayload[] = [];
  cancels: Array<{ kind: JobKind; target: string; reason: string }> = [];
  schedules = new Map<number, { repo: RepoRef; cron?: string }>();
  cancelResult: CancelResult = { removedWaiting: [], signalledActive: [] };

  /** Targets that already have a job queued or running: a new request for them is a duplicate. */
  busy = new Map<string, string>();
  async enqueue(payload: JobPayload): Promise<EnqueueResult> {
    const parsed = jobPayloadSchema.parse(payload);
    const running = this.busy.get(targetKey(parsed));
    if (running) return { jobId: running, status: "duplicate" };
    this.jobs.push(parsed);
    return { jobId: `job-${this.jobs.length}`, status: "added" };
  }
  async cancel(kind: JobKind, target: string, reason: "stop" | "superseded"): Promise<CancelResult> {
    this.cancels.push({ kind, target, reason });
    return this.cancelResult;
  }
  notes: Array<{ jobId: string; text: string }> = [];
  async noteForJob(jobId: string, text: string): Promise<void> {
    this.notes.push({ jobId, text });
  }
  attempts = new Map<string, number>();
  async countAttempt(key: string): Promise<number> {
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    return n;
  }
  async upsertUpgradeSchedule(repo: RepoRef, cron?: string): Promise<void> {
    this.schedules.set(repo.repoId, { repo, cron });
  }
  async removeUpgradeSchedule(repoId: number): Promise<void> {
    this.schedules.delete(repoId);
  }
  async removeInstallationSchedules(installationId: number): Promise<number> {
    let n = 0;
    for (const [id, s] of this.schedules) {
      if (s.repo.installationId === installationId) {
        this.schedules.delete(id);
        n++;
      }
    }
    return n;
  }
}
