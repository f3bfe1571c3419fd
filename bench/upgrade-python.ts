/**
 * Finding Python updates for a big project: `npx tsx bench/upgrade-python.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test's PEP 503/691 index (test/support/pypi-index.ts) in a child process, with
 *    `--deps` projects of `--versions` releases each (upload times spread over two years; the
 *    newest too young for a third of them; a new major for a sixth of them). The files are empty
 *    placeholders: lookups only.
 * 2. Writes a requirements.txt pinning each project at an old version.
 * 3. Measures `findUpdates` with the Python ecosystem (read the pins, one PEP 691 JSON page per
 *    project): see bench/lookup-bench.ts for the runs, the counts and the markdown it prints.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DAY_MS } from "../src/deps/find-updates.js";
import { createPyIndexClient } from "../src/deps/python/index-client.js";
import { createPythonEcosystem } from "../src/deps/python/python-ecosystem.js";
import { benchArg, runLookupBench, serveRegistry } from "./lookup-bench.js";

const DEPS = benchArg("deps", 300);
const VERSIONS = benchArg("versions", 40);
const RUNS = benchArg("runs", 5);
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
  process.on("exit", () => rmSync(files, { recursive: true, force: true }));
  await serveRegistry(index.simple, () => index.requests.length);
} else {
  await runLookupBench({
    script: new URL(import.meta.url).pathname,
    serveArgs: ["--deps", String(DEPS), "--versions", String(VERSIONS)],
    writeProject(work) {
      const pins = Array.from({ length: DEPS }, (_, i) => `${projectOf(i)}==1.${Math.floor(VERSIONS * 0.2) + (i % 5)}.0`).join("\n");
      writeFileSync(join(work, "requirements.txt"), `${pins}\n`);
    },
    ecosystem(url) {
      const client = createPyIndexClient({ isAllowed: (u) => u.startsWith(url) });
      return { ecosystem: createPythonEcosystem({ index: url, client }), requests: () => client.stats.requests };
    },
    command: `npx tsx bench/upgrade-python.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}`,
    server: "index",
    runs: RUNS,
  });
}
