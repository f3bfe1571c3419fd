/**
 * Finding Go module updates for a big project: `npx tsx bench/upgrade-go.ts [--deps 300] [--versions 40] [--runs 5]`.
 *
 * 1. Starts the test GOPROXY (test/support/go-proxy.ts) in a child process, with `--deps` modules
 *    of `--versions` versions each (times spread over two years; the newest too young for a third
 *    of them; a `/v2` module path for a sixth of them). Lookups only: no zips.
 * 2. Writes a go.mod requiring each module at an old version.
 * 3. Measures `findUpdates` with the Go ecosystem (read go.mod, per module `@v/list`, the next
 *    major path's list, and `.info` for the candidates until one is old enough): see
 *    bench/lookup-bench.ts for the runs, the counts and the markdown it prints.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DAY_MS } from "../src/deps/find-updates.js";
import { createGoEcosystem } from "../src/deps/go/go-ecosystem.js";
import { createGoProxyClient } from "../src/deps/go/proxy.js";
import { benchArg, runLookupBench, serveRegistry } from "./lookup-bench.js";

const DEPS = benchArg("deps", 300);
const VERSIONS = benchArg("versions", 40);
const RUNS = benchArg("runs", 5);
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
  await serveRegistry(proxy.url, () => proxy.requests.length);
} else {
  await runLookupBench({
    script: new URL(import.meta.url).pathname,
    serveArgs: ["--deps", String(DEPS), "--versions", String(VERSIONS)],
    writeProject(work) {
      const requires = Array.from({ length: DEPS }, (_, i) => `\t${moduleOf(i)} v1.${Math.floor(VERSIONS * 0.2) + (i % 5)}.0`).join("\n");
      writeFileSync(join(work, "go.mod"), `module bench.example/app\n\ngo 1.21\n\nrequire (\n${requires}\n)\n`);
    },
    ecosystem(url) {
      const client = createGoProxyClient({ isAllowed: (u) => u.startsWith(url) });
      return { ecosystem: createGoEcosystem({ proxy: url, client }), requests: () => client.stats.requests };
    },
    command: `npx tsx bench/upgrade-go.ts --deps ${DEPS} --versions ${VERSIONS} --runs ${RUNS}`,
    server: "proxy",
    runs: RUNS,
  });
}
