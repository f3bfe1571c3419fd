import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createDirFiles } from "../src/deps/dir-files.js";
import type { Ecosystem } from "../src/deps/ecosystem.js";
import { DAY_MS, findUpdates } from "../src/deps/find-updates.js";
import { machine, median } from "./support.js";

/**
 * The frame of the per-ecosystem lookup benchmarks (bench/upgrade-go.ts, -python.ts, -cargo.ts):
 * the test's registry runs in a child process (the client and the server do not share an event
 * loop) and reports how many requests it served; each run is `findUpdates` with a new client
 * (these clients keep nothing between runs: every run is cold), after one warm-up run for the
 * JIT; medians of `--runs`; the client's and the server's request counts must agree.
 */
export const benchArg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};

/** In the child: print the registry's URL and a stats URL (its request count) on one line. */
export async function serveRegistry(url: string, requests: () => number): Promise<void> {
  const stats = createServer((_, res) => res.end(JSON.stringify({ requests: requests() })));
  await new Promise<void>((r) => stats.listen(0, "127.0.0.1", r));
  process.stdout.write(`${url} http://127.0.0.1:${(stats.address() as { port: number }).port}\n`);
  process.on("SIGTERM", () => process.exit(0));
}

export interface LookupBench {
  /** This script's path, started again with `--serve` and `serveArgs` for the registry. */
  script: string;
  serveArgs: string[];
  /** The project in `work`, for the registry at `url`. */
  writeProject(work: string, url: string): void;
  /** A fresh ecosystem and its client for one run. */
  ecosystem(url: string): { ecosystem: Ecosystem; requests(): number };
  command: string;
  /** "proxy", "index" or "registry", for the table's header. */
  server: string;
  runs: number;
}

export async function runLookupBench(b: LookupBench): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", b.script, "--serve", ...b.serveArgs], { stdio: ["ignore", "pipe", "inherit"] });
  const [url, statsUrl] = (await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the ${b.server} exited with ${code}`)));
  })).split(" ") as [string, string];
  const work = mkdtempSync(join(tmpdir(), "bench-lookup-"));
  try {
    b.writeProject(work, url);
    const served = async () => ((await (await fetch(statsUrl)).json()) as { requests: number }).requests;
    const once = async () => {
      const before = await served();
      const { ecosystem, requests } = b.ecosystem(url);
      const started = performance.now();
      const result = await findUpdates({ files: createDirFiles(work), ecosystems: [ecosystem], policy: { now: Date.now(), minimumAgeMs: 3 * DAY_MS, ignore: [] }, groups: [] });
      const ms = performance.now() - started;
      if (result.problems.length) throw new Error(`problems: ${result.problems.map((p) => p.message).join("; ")}`);
      return { ms, clientRequests: requests(), serverRequests: (await served()) - before, updates: result.groups.reduce((n, g) => n + g.updates.length, 0), held: result.skipped.length };
    };
    await once(); // warm-up (JIT), not counted
    const runs = [];
    for (let r = 0; r < b.runs; r++) runs.push(await once());
    const last = runs[runs.length - 1]!;
    console.log(
      [
        `Command: \`${b.command}\``,
        `Machine: ${machine()}`,
        `Date: ${new Date().toISOString().slice(0, 10)}`,
        "",
        `| run | median (runs) | requests, client / ${b.server} | proposed / held back |`,
        "| --- | --- | --- | --- |",
        `| cold (a new client each run) | **${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s** (${runs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")}) | ${last.clientRequests} / ${last.serverRequests} | ${last.updates} / ${last.held} |`,
      ].join("\n"),
    );
    if (last.clientRequests !== last.serverRequests) throw new Error(`the client and the ${b.server} count different requests`);
  } finally {
    child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}
