import { chmodSync, readFileSync, rmSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { parseEgressAllow } from "../../src/workspace/egress-rules.js";
import { createSandbox, type SandboxEnvironment } from "../../src/workspace/sandbox.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { lockAt, makeDir, publishGreeter, writeFiles } from "../support/upgrade-fixtures.js";

/**
 * The sandbox's network during setup, for real: bubblewrap with its own network namespace, the
 * egress proxy on a Unix socket bound in, the forwarder inside, and real clients (bash's
 * /dev/tcp, curl, npm). A TCP listener on the host's 127.0.0.1 stands in for Redis; the test's
 * npm registry on 127.0.0.1 is the one registry the rules allow. Nothing leaves this machine.
 */
let redisStandIn: TcpServer;
let redisPort: number;
let registry: NpmRegistry;
let registryPort: number;
let other: Server;
let otherPort: number;
let project: string;
let cache: string;
let home: string;
let sandbox: SandboxEnvironment;

beforeAll(async () => {
  redisStandIn = createTcpServer((s) => s.end("+PONG\r\n"));
  await new Promise<void>((r) => redisStandIn.listen(0, "127.0.0.1", () => r()));
  redisPort = (redisStandIn.address() as AddressInfo).port;
  other = createServer((_req, res) => res.end("SECRET-INTERNAL-SERVICE"));
  await new Promise<void>((r) => other.listen(0, "127.0.0.1", () => r()));
  otherPort = (other.address() as AddressInfo).port;

  registry = await startNpmRegistry();
  registryPort = Number(new URL(registry.url).port);
  publishGreeter(registry);
  cache = makeDir("egress-npm-cache-");
  project = makeDir("egress-project-");
  writeFiles(project, {
    "package.json": JSON.stringify({ name: "app", version: "1.0.0", private: true, dependencies: { greeter: "^1.0.0" }, scripts: { test: "node -e \"console.log(require('greeter').greet('x'))\"" } }, null, 2),
    ".npmrc": `registry=${registry.url}\n`,
  });
  await lockAt(project, { "package.json": { greeter: "1.1.0" } }, cache);
  // The sandbox's user (uid 1000 inside) must be able to write the project.
  chmodSync(project, 0o777);
  home = makeDir("egress-home-");
  chmodSync(home, 0o777);
  sandbox = await createSandbox({
    mode: "bwrap",
    worktree: project,
    home,
    allowNetwork: true,
    egress: { rules: parseEgressAllow([`127.0.0.1:${registryPort}`]) },
  });
});

afterAll(async () => {
  await sandbox?.close();
  await registry?.close();
  await new Promise((r) => redisStandIn.close(r));
  await new Promise((r) => other.close(r));
  for (const d of [project, cache, home]) if (d) rmSync(d, { recursive: true, force: true });
});

const run = (command: string, network = true) => sandbox.exec(command, { timeoutMs: 120_000, network });

describe("setup's network: through the egress proxy only", () => {
  test("the host's 127.0.0.1 (a Redis stand-in) is unreachable: directly (own network namespace) and through the proxy (refused)", async () => {
    const direct = await run(`exec 3<>/dev/tcp/127.0.0.1/${redisPort} && printf 'PING\\r\\n' >&3 && head -c 7 <&3; echo rc=$?`);
    expect(direct.output).not.toContain("+PONG");
    expect(direct.output).toMatch(/Connection refused/);
    const proxied = await run(`curl -sS -o /dev/null -w '%{http_code}' --proxytunnel http://127.0.0.1:${redisPort}/ 2>&1; echo; curl -sS http://127.0.0.1:${otherPort}/ 2>&1; echo rc=$?`);
    expect(proxied.output).not.toContain("+PONG");
    expect(proxied.output).not.toContain("SECRET-INTERNAL-SERVICE");
    expect(proxied.output).toMatch(/403|not an allowed registry/);
  });

  test("the metadata address and an unlisted public name are refused at the proxy", async () => {
    const r = await run("curl -sS http://169.254.169.254/latest/meta-data/ 2>&1; echo; curl -sS -o /dev/null -w '%{http_code}' https://example.com/ 2>&1; echo rc=$?");
    expect(r.output).toMatch(/not an allowed registry/);
    expect(r.output).toMatch(/CONNECT tunnel failed, response 403|403/);
  });

  test("the allowed registry works: a real `npm ci` of a project with a dependency, through the proxy", async () => {
    const r = await run("npm ci --no-audit --no-fund && npm test");
    if (r.exitCode !== 0) throw new Error(`npm ci failed (${r.exitCode}):\n${r.output}`);
    expect(r.output).toContain("Hello, x!");
    expect(JSON.parse(readFileSync(join(project, "node_modules/greeter/package.json"), "utf8")).version).toBe("1.1.0");
    // npm itself fetched the tarball from the registry (through the proxy).
    expect(registry.requests.some((q) => q.kind === "tarball" && q.path.includes("greeter-1.1.0.tgz") && q.headers["user-agent"]?.startsWith("npm/"))).toBe(true);
  });

  test("a command without network gets none at all: not even the proxy", async () => {
    const r = await run(`curl -sS --max-time 5 http://127.0.0.1:${registryPort}/greeter 2>&1; echo; exec 3<>/dev/tcp/127.0.0.1/18080 && echo PROXY-OPEN; echo rc=$?`, false);
    expect(r.output).not.toContain('"name":"greeter"');
    expect(r.output).not.toContain("PROXY-OPEN");
  });

  test("what was refused is counted per host, for the job card", () => {
    const report = sandbox.egressReport();
    const hosts = report.refused.map((x) => x.host);
    expect(hosts).toEqual(expect.arrayContaining([`127.0.0.1:${redisPort}`, `127.0.0.1:${otherPort}`, "169.254.169.254:80", "example.com:443"]));
    expect(report.allowed).toBeGreaterThan(0);
  });
});
