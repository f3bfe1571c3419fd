import type { StepEvent } from "../agent/loop.js";

/**
 * Progress on stderr. A terminal gets one live line, rewritten in place (step n/budget, tool,
 * seconds, tokens), with phase lines (setup, tests) kept above it; a pipe or a file gets plain
 * lines, one per event, so logs stay readable. `--events` adds one JSON line per event on stdout
 * for tools that follow a run.
 */
/** Where the CLI writes: process.stdout and process.stderr, or a test's capture. */
export interface Output {
  write(text: string): unknown;
}

export interface Progress {
  /** A phase line ("setup: done in 3.2 s"): always kept. */
  line(text: string): void;
  /** An agent step. */
  step(event: StepEvent, text: string): void;
  /** The model's answer streaming in: the live line on a terminal, an event with --events (throttled). */
  answering(progress: { step: number; chars: number; elapsedMs: number }): void;
  /** Call before printing the result: ends a live line. */
  done(): void;
}

export function createProgress(options: { stderr: Output; tty: boolean; events?: Output; redact: (s: string) => string }): Progress {
  let live = false;
  let lastAnswering = 0;
  const endLive = () => {
    if (live) options.stderr.write("\n");
    live = false;
  };
  const emit = (event: Record<string, unknown>) => options.events?.write(`${options.redact(JSON.stringify(event))}\n`);
  return {
    line(text) {
      endLive();
      options.stderr.write(options.redact(`${text}\n`));
      emit({ type: "phase", text });
    },
    step(event, text) {
      if (options.tty) {
        // \r and erase-line: the step line replaces the previous one.
        options.stderr.write(options.redact(`\r\x1b[K${text}`));
        live = true;
      } else {
        options.stderr.write(options.redact(`${text}\n`));
      }
      emit({ type: "step", step: event.step, maxSteps: event.maxSteps, kind: event.kind, tool: event.tool ?? null, summary: event.summary, isError: event.isError, elapsedMs: event.elapsedMs, totalTokens: event.totalTokens });
    },
    answering(p) {
      // Only for an answer that takes a while (a quick one says nothing), and at most once a
      // second: a streamed answer arrives in hundreds of chunks.
      const now = Date.now();
      if (p.elapsedMs < 1000 || now - lastAnswering < 1000) return;
      lastAnswering = now;
      if (options.tty) {
        options.stderr.write(options.redact(`\r\x1b[K[step ${p.step}] the model is answering: ${p.chars.toLocaleString("en-US")} characters so far (${(p.elapsedMs / 1000).toFixed(0)} s)`));
        live = true;
      }
      emit({ type: "model", step: p.step, chars: p.chars, elapsedMs: Math.round(p.elapsedMs) });
    },
    done: endLive,
  };
}
