import { pino, type Logger, type LevelWithSilent } from "pino";
import type { Redact } from "./redact.js";

export type { Logger };

/**
 * JSON logs through pino (the logger Probot itself uses). Every serialized line passes the
 * redactor at the stream boundary, so no code path can log a token by accident: a field we did
 * not think of is redacted as surely as a message string.
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
      hooks: { streamWrite: (line: string) => options.redact(line) },
      formatters: { level: (label) => ({ level: label }) },
    },
    (options.destination ?? process.stdout) as pino.DestinationStream,
  );
}
