import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTrajectory, type TrajectoryRecord } from "../agent/trajectory.js";
import { PermanentError } from "../shared/errors.js";
import type { Redact } from "../shared/redact.js";

/**
 * Where a job's run is kept, for the run viewer: three files per job id under one directory
 * (RUNS_DIR, default $DATA_DIR/runs), shared by the worker that writes them and the web process
 * that reads them (one host: the same volume; Kubernetes: a ReadWriteMany volume, see
 * docs/DEPLOY.md):
 *
 *   <jobId>.jsonl      the agent's trajectory (src/agent/trajectory.ts), written every step
 *   <jobId>.meta.json  what the viewer needs that the agent does not know: kind, repo, whether
 *                      the repo is private (private runs are never shown by link alone), a title
 *   <jobId>.diff       the change the job produced, when it produced one
 *
 * A re-run of the same job id (a retry) overwrites them: the viewer shows the latest attempt.
 * Every string written here has passed the redactor; the viewer redacts again on the way out.
 */
export interface RunMeta {
  jobId: string;
  kind: string;
  /** owner/name */
  repo: string;
  /** True unless the repository is known to be public. Missing meta counts as private. */
  private: boolean;
  /** e.g. "fix for #12" */
  title?: string;
  /** The issue or PR the job is about, for a link back. */
  htmlUrl?: string;
  startedAt?: string;
}

export interface StoredRun {
  meta: RunMeta | undefined;
  records: TrajectoryRecord[];
  /** The trajectory's last line was cut short (the run is being written, or crashed mid-write). */
  partialLastLine: boolean;
  diff: string | undefined;
  /** False when no trajectory exists yet (the job has not reached its agent). */
  hasTrajectory: boolean;
}

export interface RunStore {
  readonly dir: string;
  /** The trajectory path for a job: pass it to openTrajectoryFile. Creates the directory. */
  trajectoryPath(jobId: string): string;
  writeMeta(meta: RunMeta): void;
  writeDiff(jobId: string, diff: string): void;
  /** Undefined when nothing at all is stored for the job id. */
  read(jobId: string): StoredRun | undefined;
  /** Delete runs whose files are all older than `maxAgeMs`. Returns the job ids removed. */
  prune(maxAgeMs: number, now?: number): string[];
}

/** Job ids become file names: BullMQ ids ("fix-<delivery>", "repeat:…:…") fit; nothing else does. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;
const SUFFIXES = [".jsonl", ".meta.json", ".diff"] as const;

export function isValidJobId(jobId: string): boolean {
  return JOB_ID.test(jobId) && !jobId.includes("..");
}

function assertJobId(jobId: string): void {
  if (!isValidJobId(jobId)) throw new PermanentError(`not a job id usable as a run name: ${JSON.stringify(jobId.slice(0, 80))}`);
}

export function createRunStore(dir: string, redact: Redact): RunStore {
  const file = (jobId: string, suffix: (typeof SUFFIXES)[number]) => {
    assertJobId(jobId);
    return join(dir, `${jobId}${suffix}`);
  };
  const ensureDir = () => mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Write-then-rename, so a reader never sees half a file.
  const writeAtomic = (path: string, text: string) => {
    ensureDir();
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, path);
  };
  const readText = (path: string): string | undefined => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  };

  return {
    dir,
    trajectoryPath(jobId) {
      const path = file(jobId, ".jsonl");
      ensureDir();
      return path;
    },
    writeMeta(meta) {
      writeAtomic(file(meta.jobId, ".meta.json"), JSON.stringify({ ...meta, title: meta.title ? redact(meta.title) : undefined }));
    },
    writeDiff(jobId, diff) {
      writeAtomic(file(jobId, ".diff"), redact(diff));
    },
    read(jobId) {
      if (!isValidJobId(jobId)) return undefined;
      const metaText = readText(file(jobId, ".meta.json"));
      let meta: RunMeta | undefined;
      if (metaText) {
        try {
          const parsed = JSON.parse(metaText) as Partial<RunMeta>;
          if (typeof parsed.repo === "string" && typeof parsed.kind === "string") {
            // Anything but an explicit `false` is private: fail closed.
            meta = { ...(parsed as RunMeta), jobId, private: parsed.private !== false };
          }
        } catch {
          meta = undefined;
        }
      }
      const diff = readText(file(jobId, ".diff"));
      let records: TrajectoryRecord[] = [];
      let partialLastLine = false;
      let hasTrajectory = false;
      try {
        const t = readTrajectory(file(jobId, ".jsonl"));
        records = t.records;
        partialLastLine = t.partialLastLine;
        hasTrajectory = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      if (!meta && !hasTrajectory && diff === undefined) return undefined;
      return { meta, records, partialLastLine, diff, hasTrajectory };
    },
    prune(maxAgeMs, now = Date.now()) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return [];
      }
      const newest = new Map<string, number>();
      for (const name of names) {
        const suffix = SUFFIXES.find((s) => name.endsWith(s));
        if (!suffix) continue;
        const jobId = name.slice(0, -suffix.length);
        if (!isValidJobId(jobId)) continue;
        const mtime = statSync(join(dir, name)).mtimeMs;
        newest.set(jobId, Math.max(newest.get(jobId) ?? 0, mtime));
      }
      const removed: string[] = [];
      for (const [jobId, mtime] of newest) {
        if (now - mtime < maxAgeMs) continue;
        for (const s of SUFFIXES) rmSync(join(dir, `${jobId}${s}`), { force: true });
        removed.push(jobId);
      }
      return removed;
    },
  };
}
