import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutboundDispatcher, fetchVia } from "../../src/shared/outbound.js";
import { proxyEnvFor, proxySettingsFrom } from "../../src/shared/proxy.js";
import { startEgressProxy, type EgressProxy } from "../../src/workspace/egress-proxy.js";
import { parseEgressAllow } from "../../src/workspace/egress-rules.js";
import { gitAuthEnv } from "../../src/workspace/credentials.js";
import { createGit } from "../../src/workspace/git.js";
import { startTestProxy, type TestProxy } from "../support/connect-proxy.js";
import { makeTestCa, startTlsFront, type TestCa } from "../support/test-ca.js";
import { startGitHttpServer, type GitHttpServer } from "../support/workspace-git-http.js";

/**
 * Inside a corporate network: every outbound call through HTTPS_PROXY / HTTP_PROXY, except what
 * NO_PROXY sends direct, with an internal CA. A local forward proxy records what went through it
 * and refuses (403) what NO_PROXY should have kept away from it; an HTTPS server uses a CA made at
 * run time. Here, in-process: the app's fetch dispatcher, host-side git and the sandbox's egress
 * proxy chained to the upstream one. The real processes are in outbound-proxy-process.test.ts.
 */
let ca: TestCa;
let origin: Server;
let originPort = 0;
let front: Awaited<ReturnType<typeof startTlsFront>>;
let proxy: TestProxy;
let direct: Server;
let directPort = 0;
const directHits: string[] = [];

beforeAll(async () => {
  ca = makeTestCa();
  origin = createServer((req, res) => res.end(`origin saw ${req.method} ${req.url} host=${req.headers.host}`));
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", () => r()));
  originPort = (origin.address() as AddressInfo).port;
  front = await startTlsFront(ca, originPort);
  // What NO_PROXY names: reachable only directly (the proxy refuses it).
  direct = createServer((req, res) => (directHits.push(req.url ?? ""), res.end("direct")));
  await new Promise<void>((r) => direct.listen(0, "127.0.0.1", () => r()));
  directPort = (direct.address() as AddressInfo).port;
  proxy = await startTestProxy({ auth: "corp:pa55", refuse: [`localhost:${directPort}`, `127.0.0.1:${directPort}`, `direct.corp.internal:${directPort}`], hosts: { "registry.corp.internal": "127.0.0.1" } });
});

afterAll(async () => {
  await proxy.stop();
  await front.stop();
  await new Promise((r) => origin.close(r));
  await new Promise((r) => direct.close(r));
  ca.dispose();
});

describe("the app's fetch (OutboundDispatcher)", () => {
  let dispatcher: OutboundDispatcher;
  beforeAll(() => {
    dispatcher = new OutboundDispatcher({
      proxy: proxySettingsFrom({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: `localhost:${directPort},example.invalid` }),
      ca: [ca.caPem],
    });
  });
  afterAll(() => dispatcher.close());

  test("HTTPS through CONNECT with the proxy's credentials, trusting the internal CA; plain HTTP as an absolute-URI request; NO_PROXY direct", async () => {
    proxy.seen.length = 0;
    const f = fetchVia(dispatcher);
    expect(await (await f(`https://127.0.0.1:${front.port}/api/v3/rate_limit`)).text()).toBe(`origin saw GET /api/v3/rate_limit host=127.0.0.1:${front.port}`);
    expect(await (await f(`http://127.0.0.1:${originPort}/v1/models`)).text()).toBe(`origin saw GET /v1/models host=127.0.0.1:${originPort}`);
    expect(await (await f(`http://localhost:${directPort}/direct`)).text()).toBe("direct");
    expect(proxy.seen).toEqual([
      { target: `127.0.0.1:${front.port}`, method: "CONNECT", refused: false },
      expect.objectContaining({ target: `127.0.0.1:${originPort}`, method: "GET", refused: false, path: "/v1/models" }),
    ]);
    expect(directHits).toContain("/direct");
    expect(dispatcher.routeOf(`http://localhost:${directPort}/`)).toBeUndefined();
    expect(dispatcher.routeOf("https://api.github.com/")?.host).toBe(`127.0.0.1:${proxy.port}`);
  });

  test("without the internal CA the certificate is refused; with wrong proxy credentials the call fails (407), nothing goes direct", async () => {
    const noCa = new OutboundDispatcher({ proxy: proxySettingsFrom({ HTTPS_PROXY: proxy.url }) });
    try {
      const err = await fetchVia(noCa)(`https://127.0.0.1:${front.port}/x`).then(() => undefined, (e: Error) => e);
      expect(String((err?.cause as Error | undefined)?.message ?? err)).toMatch(/self[- ]signed|unable to (get|verify)|certificate/i);
    } finally {
      await noCa.close();
    }
    const badAuth = new OutboundDispatcher({ proxy: proxySettingsFrom({ HTTP_PROXY: proxy.url.replace("pa55", "wrong"), HTTPS_PROXY: proxy.url.replace("pa55", "wrong") }), ca: [ca.caPem] });
    const before = front.connections();
    try {
      await expect(fetchVia(badAuth)(`https://127.0.0.1:${front.port}/x`)).rejects.toThrow(/fetch failed/);
      const plain = await fetchVia(badAuth)(`http://127.0.0.1:${originPort}/x`).then(() => undefined, (e: Error) => e);
      expect(String((plain?.cause as Error | undefined)?.message)).toMatch(/Proxy Authentication Required \(407\)/);
    } finally {
      await badAuth.close();
    }
    expect(front.connections()).toBe(before);
  });
});

describe("host-side git", () => {
  let repos: string;
  let gitServer: GitHttpServer;
  let gitFront: Awaited<ReturnType<typeof startTlsFront>>;
  beforeAll(async () => {
    repos = mkdtempSync(join(tmpdir(), "proxy-git-"));
    const src = join(repos, "src");
    execFileSync("git", ["init", "-q", "-b", "main", src]);
    writeFileSync(join(src, "README.md"), "through the proxy\n");
    execFileSync("git", ["-C", src, "add", "-A"]);
    execFileSync("git", ["-C", src, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"]);
    execFileSync("git", ["clone", "-q", "--bare", src, join(repos, "acme", "app.git")]);
    gitServer = await startGitHttpServer(repos, "tok-123");
    gitFront = await startTlsFront(ca, Number(new URL(gitServer.baseUrl).port));
  });
  afterAll(async () => {
    await gitFront.stop();
    await gitServer.close();
    rmSync(repos, { recursive: true, force: true });
  });

  test("clones over HTTPS through the proxy (CONNECT) trusting the CA from GIT_SSL_CAINFO; the proxy saw every connection", async () => {
    const home = mkdtempSync(join(tmpdir(), "proxy-git-home-"));
    const bundle = join(home, "bundle.pem");
    writeFileSync(bundle, ca.caPem);
    const networkEnv = { ...proxyEnvFor(proxySettingsFrom({ HTTPS_PROXY: proxy.url, NO_PROXY: "localhost" })), GIT_SSL_CAINFO: bundle };
    const git = createGit({ homeDir: home, protocols: ["https"], networkEnv });
    proxy.seen.length = 0;
    const into = join(home, "clone");
    const remote = `https://127.0.0.1:${gitFront.port}/acme/app.git`;
    const auth = gitAuthEnv(remote, "tok-123");
    try {
      await git(["clone", "-q", remote, into], { env: auth });
      expect(readFileSync(join(into, "README.md"), "utf8")).toBe("through the proxy\n");
      const connects = proxy.seen.filter((s) => s.target === `127.0.0.1:${gitFront.port}` && !s.refused);
      expect(connects.length).toBeGreaterThan(0);
      expect(connects.every((s) => s.method === "CONNECT")).toBe(true);
      expect(gitFront.connections()).toBe(connects.length);
      expect(gitServer.seen.some((s) => s.url.includes("git-upload-pack") && s.status === 200)).toBe(true);

      // Without the CA, git refuses the certificate (and says so).
      const noCa = createGit({ homeDir: home, protocols: ["https"], networkEnv: proxyEnvFor(proxySettingsFrom({ HTTPS_PROXY: proxy.url })) });
      await expect(noCa(["ls-remote", remote], { env: auth })).rejects.toThrow(/SSL certificate problem|certificate/i);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("the sandbox's egress proxy, chained to the upstream one", () => {
  let dir: string;
  let egress: EgressProxy;
  const dialed: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "egress-upstream-"));
    egress = await startEgressProxy({
      rules: parseEgressAllow([`127.0.0.1:${originPort}`, `private:direct.corp.internal:${directPort}`, `registry.corp.internal:${originPort}`, `127.0.0.1:${front.port}`]),
      socketPath: join(dir, "egress.sock"),
      // The worker cannot resolve the internal registry's name; the upstream proxy can.
      resolve: async (host) => (host === "registry.corp.internal" ? Promise.reject(new Error("ENOTFOUND")) : host === "direct.corp.internal" ? ["127.0.0.1"] : [host]),
      dial: (address, port) => (dialed.push(`${address}:${port}`), connect({ host: address, port })),
      upstream: proxySettingsFrom({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: "corp.internal:" + directPort }),
    });
  });
  afterAll(async () => {
    await egress.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function viaEgress(raw: string, until: RegExp): Promise<string> {
    return new Promise((resolve, reject) => {
      const s: Socket = connect(egress.socketPath);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
        if (until.test(out) || /^HTTP\/1\.1 (4|5)\d\d/.test(out)) setTimeout(() => s.end(), 20);
      });
      s.on("close", () => resolve(out));
      s.on("error", reject);
      s.write(raw);
    });
  }

  test("a plain-HTTP registry request goes on to the upstream with its absolute URL and the proxy's credentials", async () => {
    proxy.seen.length = 0;
    dialed.length = 0;
    const out = await viaEgress(`GET http://127.0.0.1:${originPort}/left-pad HTTP/1.1\r\nhost: 127.0.0.1:${originPort}\r\nuser-agent: npm/10\r\nconnection: close\r\n\r\n`, /origin saw/);
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toContain(`origin saw GET /left-pad host=127.0.0.1:${originPort}`);
    expect(proxy.seen).toEqual([expect.objectContaining({ target: `127.0.0.1:${originPort}`, method: "GET", refused: false, path: "/left-pad", userAgent: "npm/10" })]);
    expect(dialed).toEqual([]);
  });

  test("CONNECT goes through an upstream tunnel (TLS end to end); a name only the upstream resolves is let through by name", async () => {
    proxy.seen.length = 0;
    const out = await viaEgress(`CONNECT 127.0.0.1:${front.port} HTTP/1.1\r\nhost: 127.0.0.1:${front.port}\r\n\r\n`, /Connection Established/);
    expect(out).toMatch(/^HTTP\/1\.1 200 Connection Established/);
    const named = await viaEgress(`GET http://registry.corp.internal:${originPort}/pkg HTTP/1.1\r\nhost: registry.corp.internal:${originPort}\r\nconnection: close\r\n\r\n`, /origin saw/);
    expect(named).toContain(`origin saw GET /pkg host=registry.corp.internal:${originPort}`);
    expect(proxy.seen.map((s) => `${s.method} ${s.target}`)).toEqual([`CONNECT 127.0.0.1:${front.port}`, `GET registry.corp.internal:${originPort}`]);
  });

  test("NO_PROXY hosts are dialed directly (the upstream would refuse them); the rules still come first", async () => {
    proxy.seen.length = 0;
    dialed.length = 0;
    const out = await viaEgress(`GET http://direct.corp.internal:${directPort}/d HTTP/1.1\r\nhost: direct.corp.internal:${directPort}\r\nconnection: close\r\n\r\n`, /direct/);
    expect(out).toMatch(/^HTTP\/1\.1 200[\s\S]*direct/);
    expect(dialed).toEqual([`127.0.0.1:${directPort}`]);
    expect(await viaEgress("CONNECT evil.example:443 HTTP/1.1\r\nhost: evil.example:443\r\n\r\n", /never/)).toMatch(/^HTTP\/1\.1 403 Forbidden[\s\S]*not an allowed registry/);
    expect(proxy.seen).toEqual([]);
  });

  test("an upstream that refuses: 502 to the sandbox with the upstream's answer", async () => {
    proxy.refuse.add(`127.0.0.1:${originPort}`);
    try {
      const out = await viaEgress(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nhost: 127.0.0.1:${originPort}\r\n\r\n`, /never/);
      expect(out).toMatch(/^HTTP\/1\.1 502 Bad Gateway[\s\S]*the upstream proxy http:\/\/127\.0\.0\.1:\d+ did not open 127\.0\.0\.1:\d+: HTTP 403/);
      expect(out).not.toContain("pa55");
    } finally {
      proxy.refuse.delete(`127.0.0.1:${originPort}`);
    }
  });
});
