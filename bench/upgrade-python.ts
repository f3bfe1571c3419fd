/**
 * Finding Python updates for a big project: `npx tsx bench/upgrade-python.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test's PEP 503/691 index (test/support/pypi-index.ts) in a child process, so the
 *    client and the server do not share an event loop, with `--deps` projects of `--versions`
 *    releases each (upload times spread over two years; the newest too young for a third of
 *    them; a new major for a sixth of them). The files are empty placeholders: lookups only.
 * 2. Writes a requirements.txt pinning each project at an old version.
 * 3. Measures `findUpdates` with the Python ecosystem (read the pins, one PEP 691 JSON page per
 *    project), medians of `--runs`, each with a new client (the client keeps nothing between
 *    runs, so every run is cold). Requests are counted by the client and, independently, by the
 *    index.
 * 4. Prints the markdown for docs/BENCHMARKS.md.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createDirFiles } from "../src/deps/dir-files.js";
import { DAY_MS, findUpdates } from "../src/deps/find-updates.js";
import { createPyIndexClient } from "../src/deps/python/index-client.js";
import { createPythonEcosystem } from "../src/deps/python/python-ecosystem.js";
import { machine, median } from "./support.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DEPS = arg("deps", 300);
const VERSIONS = arg("versions", 40);
const RUNS = arg("runs", 5);
const projectOf = (i: number) => `benchproj${i}`;

if (process.argv.includes("--serve")) {
  const { startPypiIndex } = await import("../test/support/pypi-index.js");
  const index = await startPypiIndex();
  const files = mkdtempSync(join(tmpdir(), "bench-pypi-files-"));
  for (let i = 0; i < DEPS; i++) {
    const versions = Array.from({ length: VERSIONS }, (_, k) => `1.${k}.0`);
    if (i % 6 === 0) versions.push("2.0.0");
    versions.forEach((v, k) => {
      const file = join(files, `${projectOf(i)}-${v}-py3-none-any.whl`);
      writeFileSync(file, "");
      const last = k === versions.length - 1;
      index.add(file, new Date(Date.now() - (last && i % 3 === 0 ? 1 : (versions.length - k) * 18) * DAY_MS));
    });
  }
  const { createServer } = await import("node:http");
  const stats = createServer((_, res) => res.end(JSON.stringify({ requests: index.requests.length })));
  await new Promise<void>((r) => stats.listen(0, "127.0.0.1", r));
  process.stdout.write(`${index.simple} http://127.0.0.1:${(stats.address() as { port: number }).port}\n`);
  process.on("SIGTERM", () => {
    rmSync(files, { recursive: true, force: true });
    process.exit(0);
  });
} else {
  await main();
}

async function main() {
  const child = spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--serve", "--deps", String(DEPS), "--versions", String(VERSIONS)], { stdio: ["ignore", "pipe", "inherit"] });
  const [simple, statsUrl] = (await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`index exited with ${code}`)));
  })).split(" ") as [string, string];
  const work = mkdtempSync(join(tmpdir(), "bench-upgrade-python-"));
  try {
    const pins = Array.from({ length: DEPS }, (_, i) => `${projectOf(i)}==1.${Math.floor(VERSIONS * 0.2) + (i % 5)}.0`).join("\n");
    writeFileSync(join(work, "requirements.txt"), `${pins}\n`);
    const served = async () => ((await (await fetch(statsUrl)).json()) as { requests: number }).requests;
    const once = async () => {
      const before = await served();
      const client = createPyIndexClient({ isAllowed: (u) => u.startsWith(simple) });
      const started = performance.now();
      const result = await findUpdates({
        files: createDirFiles(work),
        ecosystems: [createPythonEcosystem({ index: simple, client })],
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
        `Command: \`npx tsx bench/upgrade-python.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}\``,
        `Machine: ${machine()}`,
        `Date: ${new Date().toISOString().slice(0, 10)}`,
        "",
        "| run | median (runs) | requests, client / index | proposed / held back |",
        "| --- | --- | --- | --- |",
        `| cold (a new client each run) | **${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s** (${runs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")}) | ${last.clientRequests} / ${last.serverRequests} | ${last.updates} / ${last.held} |`,
      ].join("\n"),
    );
    if (last.clientRequests !== last.serverRequests) throw new Error("the client and the index count different requests");
  } finally {
    child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}
