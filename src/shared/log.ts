import { pino, type Logger, type LevelWithSilent } from "pino";
import type { Redact } from "./redact.js";

export type { Logger };

/**
 * JSON logs through pino (the logger Probot itself uses). Every serialized line passes the
 * redactor at the stream boundary, so no code path can log a token by accident: a field we did
 * not think of is redacted as surely as a message string.
 *
 * Each line also leaves with one key per name. pino appends a child's bindings and each call's
 * fields to the line as they come, so `child({ jobId })` then `info({ jobId })`, or pino's own
 * `name` next to a field called `name`, write the key twice; strict pipelines (Loki's JSON
 * stage, Elasticsearch ingest) reject or mangle such a line. Parsing the line keeps the last
 * (most specific) value of each key where the first one stood. Components therefore bind
 * `component`, not `name` (see `componentLogger`), so the process's name is not lost.
 */
export function createLogger(options: {
  level?: string;
  redact: Redact;
  name?: string;
  destination?: NodeJS.WritableStream;
}): Logger {
  return pino(
    {
      name: options.name ?? "iquest-bot",
      level: (options.level ?? "info") as LevelWithSilent,
      hooks: { streamWrite: (line: string) => options.redact(uniqueKeys(line)) },
      formatters: { level: (label) => ({ level: label }) },
    },
    (options.destination ?? process.stdout) as pino.DestinationStream,
  );
}

/** A child logger for one part of the process (`{"component":"github"}`), never a second `name`. */
export function componentLogger(log: Logger, component: string): Logger {
  return log.child({ component });
}

/**
 * One key per name, at every depth. A line that is not JSON (pino never writes one) is left
 * alone. Exported for tests.
 */
export function uniqueKeys(line: string): string {
  try {
    return `${JSON.stringify(JSON.parse(line))}\n`;
  } catch {
    return line;
  }
}
