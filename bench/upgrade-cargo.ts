/**
 * Finding Rust updates for a big project: `npx tsx bench/upgrade-cargo.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test's sparse registry (test/support/cargo-registry.ts) in a child process, with
 *    `--deps` crates of `--versions` versions each (`pubtime` spread over two years; the newest
 *    too young for a third of them; a new major for a sixth of them).
 * 2. Writes a Cargo.toml requiring each crate (caret requirements) and a Cargo.lock holding an
 *    old version of each.
 * 3. Measures `findUpdates` with the Cargo ecosystem (read Cargo.toml and Cargo.lock, one index
 *    file per crate): see bench/lookup-bench.ts for the runs, the counts and the markdown it prints.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCargoEcosystem } from "../src/deps/cargo/cargo-ecosystem.js";
import { createSparseIndexClient } from "../src/deps/cargo/sparse-client.js";
import { DAY_MS } from "../src/deps/find-updates.js";
import { benchArg, runLookupBench, serveRegistry } from "./lookup-bench.js";

const DEPS = benchArg("deps", 300);
const VERSIONS = benchArg("versions", 40);
const RUNS = benchArg("runs", 5);
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
  await serveRegistry(registry.index.replace(/^sparse\+/, ""), () => registry.requests.length);
} else {
  await runLookupBench({
    script: new URL(import.meta.url).pathname,
    serveArgs: ["--deps", String(DEPS), "--versions", String(VERSIONS)],
    writeProject(work) {
      const old = (i: number) => `1.${Math.floor(VERSIONS * 0.2) + (i % 5)}.0`;
      const deps = Array.from({ length: DEPS }, (_, i) => `${crateOf(i)} = "1.${Math.floor(VERSIONS * 0.2)}"`).join("\n");
      writeFileSync(join(work, "Cargo.toml"), `[package]\nname = "app"\nversion = "0.1.0"\n\n[dependencies]\n${deps}\n`);
      const lock = Array.from({ length: DEPS }, (_, i) => `[[package]]\nname = "${crateOf(i)}"\nversion = "${old(i)}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n`).join("\n");
      writeFileSync(join(work, "Cargo.lock"), `version = 3\n\n${lock}`);
    },
    ecosystem(url) {
      const client = createSparseIndexClient({ isAllowed: (u) => u.startsWith(url) });
      return { ecosystem: createCargoEcosystem({ defaultIndex: url, client }), requests: () => client.stats.requests };
    },
    command: `npx tsx bench/upgrade-cargo.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}`,
    server: "registry",
    runs: RUNS,
  });
}
