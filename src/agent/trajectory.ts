import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { redactDeep, type Redact } from "../shared/redact.js";

/**
 * The run's trajectory: JSON lines, one record per event, written as the run goes. Each record
 * is written with one synchronous write before the run moves on, so a crash (or kill -9) at step
 * 30 leaves steps 1–29 on disk, whole. Every string passes the redactor first: model output and
 * command output can contain tokens the repo or the model leaked.
 *
 * Format version 1. Records: `run-start`, `step`, `condensation`, `end` (see TrajectoryRecord).
 * Readers must ignore fields and record types they do not know.
 */
export const TRAJECTORY_FORMAT_VERSION = 1;

export interface TrajectoryRecord {
  type: "run-start" | "step" | "condensation" | "end";
  [key: string]: unknown;
}

export interface TrajectorySink {
  write(record: TrajectoryRecord): void;
  close(): void;
}

export interface TrajectoryFileOptions {
  redact: Redact;
  /** Also fsync each record (survives a machine crash, not just a process crash). */
  fsync?: boolean;
  /** Add to the file instead of starting it over (a fix's later attempts follow the first). */
  append?: boolean;
}

/** Open (truncate, or append to) `path` and write records to it. */
export function openTrajectoryFile(path: string, options: TrajectoryFileOptions): TrajectorySink {
  const fd = openSync(path, options.append ? "a" : "w", 0o600);
  let open = true;
  return {
    write(record) {
      if (!open) throw new Error(`trajectory ${path} is closed`);
      const line = `${JSON.stringify(redactDeep({ v: TRAJECTORY_FORMAT_VERSION, ...record }, options.redact))}\n`;
      writeSync(fd, line);
      if (options.fsync) fsyncSync(fd);
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** Keep records in memory (tests, and jobs that upload the trajectory elsewhere). */
export function memoryTrajectory(redact: Redact): TrajectorySink & { records: TrajectoryRecord[] } {
  const records: TrajectoryRecord[] = [];
  return {
    records,
    write(record) {
      // Round-trip through JSON so the records are what a file would hold.
      records.push(JSON.parse(JSON.stringify(redactDeep({ v: TRAJECTORY_FORMAT_VERSION, ...record }, redact))));
    },
    close() {},
  };
}

/**
 * Read a trajectory file. A last line cut short by a crash is skipped and reported, not thrown:
 * the records before it are the point of writing as we go.
 */
export function readTrajectory(path: string): { records: TrajectoryRecord[]; partialLastLine: boolean } {
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  const records: TrajectoryRecord[] = [];
  let partialLastLine = false;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      records.push(JSON.parse(line) as TrajectoryRecord);
    } catch (err) {
      if (i === lines.length - 1) partialLastLine = true;
      else throw new Error(`trajectory ${path}: line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
  });
  return { records, partialLastLine };
}
