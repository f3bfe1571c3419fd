/**
 * Finding updates for a big project: `npx tsx bench/upgrade.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test npm registry (test/support/npm-registry) in a child process, so the client
 *    and the server do not share an event loop, and publishes `--deps` packages with `--versions`
 *    versions each (publish times spread over two years; a few too young, some deprecated, some
 *    prereleases), each with a real tarball.
 * 2. Writes a project with one dependency per package (^, ~ and exact ranges, a third each;
 *    some dev dependencies) and a v3 lock file holding an old version of each.
 * 3. Measures `findUpdates` (the CLI's and the job's core: read the manifests and the lock,
 *    one packument per package, propose, group), medians of `--runs`:
 *    - cold: a new client, nothing stored;
 *    - warm, revalidating: the worker's setting (a disk store, every entry revalidated with
 *      If-None-Match: one request per package, answered 304 without a body);
 *    - warm, fresh: a store within its freshness window (no request at all).
 *    Registry requests are counted by the client and, independently, by the registry.
 * 4. Prints the markdown for "## Upgrade (bench/upgrade.ts)" in docs/BENCHMARKS.md.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createDirFiles } from "../src/deps/dir-files.js";
import { DAY_MS, findUpdates } from "../src/deps/find-updates.js";
import { createDiskMetadataStore, type MetadataStore } from "../src/deps/metadata-store.js";
import { createNpmEcosystem } from "../src/deps/npm/npm-ecosystem.js";
import { createNpmRegistryClient } from "../src/deps/npm/registry.js";
import { machine, median } from "./support.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DEPS = arg("deps", 300);
const VERSIONS = arg("versions", 40);
const RUNS = arg("runs", 5);

const nameOf = (i: number) => (i % 10 === 0 ? `@bench/pkg-${i}` : `bench-pkg-${i}`);
/** Version k of a package: 1.0.0, 1.1.0, … stepping to 2.0.0 at 60% and 3.0.0 at 90%. */
const versionOf = (k: number, n: number) => (k < n * 0.6 ? `1.${k}.0` : k < n * 0.9 ? `2.${k}.0` : `3.${k}.0`);

if (process.argv.includes("--serve")) {
  // The child: a registry with the packages, its URL on stdout.
  const { startNpmRegistry, DAY_MS: DAY } = await import("../test/support/npm-registry/index.js");
  const registry = await startNpmRegistry();
  for (let i = 0; i < DEPS; i++) {
    for (let k = 0; k < VERSIONS; k++) {
      const last = k === VERSIONS - 1;
      registry.publish({
        name: nameOf(i),
        version: versionOf(k, VERSIONS),
        // Two years of releases; the newest one is too young for a third of the packages.
        publishedAt: new Date(Date.now() - (last && i % 3 === 0 ? 1 : (VERSIONS - k) * 18) * DAY),
        ...(k % 7 === 3 ? { deprecated: "do not use" } : {}),
        files: { "index.js": `module.exports = ${k};\n`, "README.md": `# ${nameOf(i)}\n` },
        repository: `https://github.com/bench/${nameOf(i).replace(/^@bench\//, "")}`,
      });
    }
    registry.publish({ name: nameOf(i), version: `4.0.0-rc.${i % 5}`, publishedAt: new Date(Date.now() - 5 * DAY), tag: "next" });
  }
  process.stdout.write(`${registry.url}\n`);
  process.on("SIGTERM", () => void registry.close().then(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const child = spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--serve", "--deps", String(DEPS), "--versions", String(VERSIONS)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`registry exited with ${code}`)));
  });
  const work = mkdtempSync(join(tmpdir(), "bench-upgrade-"));
  try {
    // The project: ^, ~ and exact ranges over an old locked version.
    const deps: Record<string, string> = {};
    const devDeps: Record<string, string> = {};
    const packages: Record<string, { version: string }> = { "": { version: "1.0.0" } };
    for (let i = 0; i < DEPS; i++) {
      const locked = versionOf(Math.floor(VERSIONS * 0.2) + (i % 5), VERSIONS);
      const range = i % 3 === 0 ? `^${locked}` : i % 3 === 1 ? `~${locked}` : locked;
      (i % 4 === 3 ? devDeps : deps)[nameOf(i)] = range;
      packages[`node_modules/${nameOf(i)}`] = { version: locked };
    }
    writeFileSync(join(work, "package.json"), JSON.stringify({ name: "bench-app", private: true, dependencies: deps, devDependencies: devDeps }, null, 2));
    writeFileSync(join(work, "package-lock.json"), JSON.stringify({ name: "bench-app", lockfileVersion: 3, requires: true, packages }, null, 2));
    writeFileSync(join(work, ".npmrc"), `registry=${url}\n`);

    const stats = async () => (await (await fetch(`${url}-/stats`)).json()) as { packument: number; notModified: number; names: number };
    const once = async (store?: MetadataStore, freshMs?: number) => {
      const before = await stats();
      const client = createNpmRegistryClient({ isAllowed: (u) => u.startsWith(url), ...(store ? { store, freshMs: freshMs ?? 0 } : {}) });
      const started = performance.now();
      const result = await findUpdates({
        files: createDirFiles(work),
        ecosystems: [createNpmEcosystem({ defaultRegistry: url, client })],
        policy: { now: Date.now(), minimumAgeMs: 3 * DAY_MS, ignore: [] },
        groups: [],
      });
      const ms = performance.now() - started;
      const after = await stats();
      if (result.problems.length) throw new Error(`problems: ${result.problems.map((p) => p.message).join("; ")}`);
      return {
        ms,
        clientRequests: client.stats.requests,
        serverRequests: after.packument - before.packument,
        notModified: after.notModified - before.notModified,
        fromStore: client.stats.fromStore,
        bytes: client.stats.bytes,
        updates: result.groups.reduce((n, g) => n + g.updates.length, 0),
        groups: result.groups.length,
        deps: result.dependencies,
      };
    };

    await once(); // warm-up: JIT, the registry's first answers (not counted)
    const cold = [];
    for (let r = 0; r < RUNS; r++) cold.push(await once());
    const storeDir = join(work, "store");
    const store = createDiskMetadataStore(storeDir);
    await once(store); // fill the store
    const revalidate = [];
    for (let r = 0; r < RUNS; r++) revalidate.push(await once(store, 0));
    const fresh = [];
    for (let r = 0; r < RUNS; r++) fresh.push(await once(store, 60 * 60_000));

    const row = (label: string, runs: Awaited<ReturnType<typeof once>>[]) => {
      const ms = median(runs.map((r) => r.ms));
      const last = runs[runs.length - 1]!;
      return `| ${label} | **${(ms / 1000).toFixed(2)} s** (${runs.map((r) => (r.ms / 1000).toFixed(2)).join(", ")}) | ${last.clientRequests} / ${last.serverRequests}${last.notModified ? ` (${last.notModified} × 304)` : ""} | ${(last.bytes / 1024 / 1024).toFixed(1)} MiB |`;
    };
    const c = cold[0]!;
    const lines = [
      `Command: \`npx tsx bench/upgrade.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}\``,
      `Machine: ${machine()}`,
      `Date: ${new Date().toISOString().slice(0, 10)}`,
      "",
      `Project: ${c.deps} dependencies (^, ~ and exact ranges; a quarter dev dependencies), a v3 lock file; ${DEPS} packages with ${VERSIONS + 1} versions each in the registry. Result every run: ${c.updates} updates in ${c.groups} groups.`,
      "",
      "| run | wall time, median (runs) | packument requests: client / registry | bytes read |",
      "| --- | --- | --- | --- |",
      row("cold (no store)", cold),
      row("warm store, revalidated (the worker's setting)", revalidate),
      row("warm store, fresh", fresh),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    for (const r of [...cold, ...revalidate]) {
      if (r.serverRequests > DEPS) throw new Error(`more than one request per package: ${r.serverRequests} for ${DEPS}`);
    }
  } finally {
    child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}
