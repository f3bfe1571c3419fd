/**
 * Finding Rust updates for a big project: `npx tsx bench/upgrade-cargo.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test's sparse registry (test/support/cargo-registry.ts) in a child process, so
 *    the client and the server do not share an event loop, with `--deps` crates of `--versions`
 *    versions each (`pubtime` spread over two years; the newest too young for a third of them; a
 *    new major for a sixth of them).
 * 2. Writes a Cargo.toml requiring each crate (caret requirements) and a Cargo.lock holding an
 *    old version of each.
 * 3. Measures `findUpdates` with the Cargo ecosystem (read Cargo.toml and Cargo.lock, one index
 *    file per crate), medians of `--runs`, each with a new client (the client keeps nothing
 *    between runs, so every run is cold). Requests are counted by the client and, independently,
 *    by the registry.
 * 4. Prints the markdown for docs/BENCHMARKS.md.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createDirFiles } from "../src/deps/dir-files.js";
import { DAY_MS, findUpdates } from "../src/deps/find-updates.js";
import { createCargoEcosystem } from "../src/deps/cargo/cargo-ecosystem.js";
import { createSparseIndexClient } from "../src/deps/cargo/sparse-client.js";
import { machine, median } from "./support.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DEPS = arg("deps", 300);
const VERSIONS = arg("versions", 40);
const RUNS = arg("runs", 5);
const crateOf = (i: number) => `benchcrate${i}`;

if (process.argv.includes("--serve")) {
  const { startCargoRegistry } = await import("../test/support/cargo-registry.js");
  const registry = await startCargoRegistry();
  for (let i = 0; i < DEPS; i++) {
    const versions = Array.from({ length: VERSIONS }, (_, k) => `1.${k}.0`);
    if (i % 6 === 0) versions.push("2.0.0");
    versions.forEach((v, k) => {
      const last = k === versions.length - 1;
      registry.publish({ name: crateOf(i), version: v, lib: "", publishedAt: new Date(Date.now() - (last && i % 3 === 0 ? 1 : (versions.length - k) * 18) * DAY_MS) });
    });
  }
  const { createServer } = await import("node:http");
  const stats = createServer((_, res) => res.end(JSON.stringify({ requests: registry.requests.length })));
  await new Promise<void>((r) => stats.listen(0, "127.0.0.1", r));
  process.stdout.write(`${registry.index.replace(/^sparse\+/, "")} http://127.0.0.1:${(stats.address() as { port: number }).port}\n`);
  process.on("SIGTERM", () => process.exit(0));
} else {
  await main();
}

async function main() {
  const child = spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--serve", "--deps", String(DEPS), "--versions", String(VERSIONS)], { stdio: ["ignore", "pipe", "inherit"] });
  const [index, statsUrl] = (await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`registry exited with ${code}`)));
  })).split(" ") as [string, string];
  const work = mkdtempSync(join(tmpdir(), "bench-upgrade-cargo-"));
  try {
    const old = (i: number) => `1.${Math.floor(VERSIONS * 0.2) + (i % 5)}.0`;
    const deps = Array.from({ length: DEPS }, (_, i) => `${crateOf(i)} = "1.${Math.floor(VERSIONS * 0.2)}"`).join("\n");
    writeFileSync(join(work, "Cargo.toml"), `[package]\nname = "app"\nversion = "0.1.0"\n\n[dependencies]\n${deps}\n`);
    const lock = Array.from({ length: DEPS }, (_, i) => `[[package]]\nname = "${crateOf(i)}"\nversion = "${old(i)}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n`).join("\n");
    writeFileSync(join(work, "Cargo.lock"), `version = 3\n\n${lock}`);
    const served = async () => ((await (await fetch(statsUrl)).json()) as { requests: number }).requests;
    const once = async () => {
      const before = await served();
      const client = createSparseIndexClient({ isAllowed: (u) => u.startsWith(index) });
      const started = performance.now();
      const result = await findUpdates({
        files: createDirFiles(work),
        ecosystems: [createCargoEcosystem({ defaultIndex: index, client })],
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
        `Command: \`npx tsx bench/upgrade-cargo.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}\``,
        `Machine: ${machine()}`,
        `Date: ${new Date().toISOString().slice(0, 10)}`,
        "",
        "| run | median (runs) | requests, client / registry | proposed / held back |",
        "| --- | --- | --- | --- |",
        `| cold (a new client each run) | **${(median(runs.map((r) => r.ms)) / 1000).toFixed(2)} s** (${runs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")}) | ${last.clientRequests} / ${last.serverRequests} | ${last.updates} / ${last.held} |`,
      ].join("\n"),
    );
    if (last.clientRequests !== last.serverRequests) throw new Error("the client and the registry count different requests");
  } finally {
    child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}
