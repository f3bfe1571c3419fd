/**
 * Finding Go module updates for a big project: `npx tsx bench/upgrade-go.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test GOPROXY (test/support/go-proxy.ts) in a child process, so the client and
 *    the server do not share an event loop, with `--deps` modules of `--versions` versions each
 *    (times spread over two years; the newest too young for a third of them; a `/v2` module path
 *    for a sixth of them). Lookups only: no zips.
 * 2. Writes a go.mod requiring each module at an old version.
 * 3. Measures `findUpdates` with the Go ecosystem (read go.mod, per module `@v/list`, the next
 *    major path's list, and `.info` for the candidates until one is old enough), medians of
 *    `--runs`, each with a new client (the Go client keeps nothing between runs). Requests are
 *    counted by the client and, independently, by the proxy.
 * 4. Prints the markdown for docs/BENCHMARKS.md.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createDirFiles } from "../src/deps/dir-files.js";
import { DAY_MS, findUpdates } from "../src/deps/find-updates.js";
import { createGoEcosystem } from "../src/deps/go/go-ecosystem.js";
import { createGoProxyClient } from "../src/deps/go/proxy.js";
import { machine, median } from "./support.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DEPS = arg("deps", 300);
const VERSIONS = arg("versions", 40);
const RUNS = arg("runs", 5);
const moduleOf = (i: number) => `bench.example/mod${i}`;

if (process.argv.includes("--serve")) {
  const { startGoProxy } = await import("../test/support/go-proxy.js");
  const proxy = await startGoProxy();
  for (let i = 0; i < DEPS; i++) {
    for (let k = 0; k < VERSIONS; k++) {
      const last = k === VERSIONS - 1;
      proxy.publish({ module: moduleOf(i), version: `v1.${k}.0`, files: {}, noZip: true, time: new Date(Date.now() - (last && i % 3 === 0 ? 1 : (VERSIONS - k) * 18) * DAY_MS) });
    }
    if (i % 6 === 0) proxy.publish({ module: `${moduleOf(i)}/v2`, version: "v2.0.0", files: {}, noZip: true });
  }
  // Count requests in a way the parent can read.
  const { createServer } = await import("node:http");
  const stats = createServer((_, res) => res.end(JSON.stringify({ requests: proxy.requests.length })));
  await new Promise<void>((r) => stats.listen(0, "127.0.0.1", r));
  process.stdout.write(`${proxy.url} http://127.0.0.1:${(stats.address() as { port: number }).port}\n`);
  process.on("SIGTERM", () => process.exit(0));
} else {
  await main();
}

async function main() {
  const child = spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--serve", "--deps", String(DEPS), "--versions", String(VERSIONS)], { stdio: ["ignore", "pipe", "inherit"] });
  const [url, statsUrl] = (await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`proxy exited with ${code}`)));
  })).split(" ") as [string, string];
  const work = mkdtempSync(join(tmpdir(), "bench-upgrade-go-"));
  try {
    const requires = Array.from({ length: DEPS }, (_, i) => `\t${moduleOf(i)} v1.${Math.floor(VERSIONS * 0.2) + (i % 5)}.0`).join("\n");
    writeFileSync(join(work, "go.mod"), `module bench.example/app\n\ngo 1.21\n\nrequire (\n${requires}\n)\n`);
    const served = async () => ((await (await fetch(statsUrl)).json()) as { requests: number }).requests;
    const once = async () => {
      const before = await served();
      const client = createGoProxyClient({ isAllowed: (u) => u.startsWith(url) });
      const started = performance.now();
      const result = await findUpdates({
        files: createDirFiles(work),
        ecosystems: [createGoEcosystem({ proxy: url, client })],
        policy: { now: Date.now(), minimumAgeMs: 3 * DAY_MS, ignore: [] },
        groups: [],
      });
      const ms = performance.now() - started;
      if (result.problems.length) throw new Error(`problems: ${result.problems.map((p) => p.message).join("; ")}`);
      return { ms, clientRequests: client.stats.requests, serverRequests: (await served()) - before, updates: result.groups.reduce((n, g) => n + g.updates.length, 0), held: result.skipped.length };
    };
    await once(); // warm-up (JIT), not counted
    const runs = [];
    for (let r = 0; r < RUNS; r++) runs.push(await once());
    const last = runs[runs.length - 1]!;
    console.log(
      [
        `Command: \`npx tsx bench/upgrade-go.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}\``,
        `Machine: ${machine()}`,
        `Date: ${new Date().toISOString().slice(0, 10)}`,
        "",
        "| run | median (runs) | requests, client / proxy | proposed / held back |",
        "| --- | --- | --- | --- |",
        `| cold (a new client each run) | **${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s** (${runs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")}) | ${last.clientRequests} / ${last.serverRequests} | ${last.updates} / ${last.held} |`,
      ].join("\n"),
    );
    if (last.clientRequests !== last.serverRequests) throw new Error("the client and the proxy count different requests");
  } finally {
    child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}
