import type { Logger } from "../shared/log.js";

/**
 * Counts events by reason and logs ONE line per reason per interval (count, a few source
 * addresses, a sample detail), instead of a line per event. This is how rejected webhooks and
 * failed logins are logged: a million forged requests cost a few lines, and the real errors are
 * not drowned. Bounded memory whatever the sources: at most `maxSources` addresses are kept per
 * reason, and the number of distinct source addresses is counted approximately past that.
 */
export interface SummaryLog {
  note(reason: string, source: string | undefined, detail?: string): void;
  /** Write the lines for what was counted since the last flush (tests, shutdown). */
  flush(): void;
  close(): void;
}

export interface SummaryLogOptions {
  log: Logger;
  /** The message of each summary line, e.g. "webhook requests rejected". */
  message: string;
  level?: "warn" | "info";
  intervalMs?: number;
  maxSources?: number;
  /** A hint per reason, written once in each of its lines (what an operator should check). */
  hints?: Record<string, string>;
}

export function createSummaryLog(options: SummaryLogOptions): SummaryLog {
  const maxSources = options.maxSources ?? 5;
  const intervalMs = options.intervalMs ?? 10_000;
  let counts = new Map<string, { count: number; sources: Set<string>; detail?: string; since: number }>();
  const flush = () => {
    const current = counts;
    counts = new Map();
    const now = Date.now();
    for (const [reason, c] of current) {
      options.log[options.level ?? "warn"](
        {
          reason,
          count: c.count,
          sources: [...c.sources],
          seconds: Math.max(1, Math.round((now - c.since) / 1000)),
          ...(c.detail ? { detail: c.detail } : {}),
          ...(options.hints?.[reason] ? { hint: options.hints[reason] } : {}),
        },
        options.message,
      );
    }
  };
  const timer = setInterval(flush, intervalMs);
  timer.unref();
  return {
    note(reason, source, detail) {
      let c = counts.get(reason);
      if (!c) counts.set(reason, (c = { count: 0, sources: new Set(), since: Date.now(), ...(detail ? { detail: detail.slice(0, 300) } : {}) }));
      c.count++;
      if (source && c.sources.size < maxSources) c.sources.add(source);
    },
    flush,
    close() {
      clearInterval(timer);
      flush();
    },
  };
}
