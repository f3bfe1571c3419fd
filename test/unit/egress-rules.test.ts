import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { startEgressProxy, type EgressProxy } from "../../src/workspace/egress-proxy.js";
import { DEFAULT_EGRESS_ALLOW, decideEgress, egressRulesFor, isPublicAddress, matchRule, parseEgressAllow, parseEgressRule } from "../../src/workspace/egress-rules.js";
import { describeEgressRefusals } from "../../src/jobs/prepare-workspace.js";

/**
 * The egress proxy's rules, and the proxy itself with a test resolver (names mapped to any
 * address we like) and an instrumented dialer (it records what it was asked to dial and only
 * ever connects to this test's own loopback server). No packet leaves this machine: refused
 * targets are never dialed, and "public" targets are redirected by the dialer to loopback.
 */
describe("which addresses are public", () => {
  test.each([
    "127.0.0.1", "127.9.9.9", "10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::10.0.0.1", "2001:db8::1",
  ])("%s is not public", (a) => {
    expect(isPublicAddress(a)).toBe(false);
  });
  test.each(["93.184.216.34", "151.101.1.35", "8.8.8.8", "172.32.0.1", "2606:4700::6810:84e5", "::ffff:151.101.1.35"])("%s is public", (a) => {
    expect(isPublicAddress(a)).toBe(true);
  });
  test("not an address at all is not public", () => {
    expect(isPublicAddress("registry.npmjs.org")).toBe(false);
  });
});

describe("rules as operators write them", () => {
  test("names, wildcards, ports, private names and address literals", () => {
    expect(parseEgressRule("Registry.NPMJS.org")).toEqual({ host: "registry.npmjs.org", privateOk: false });
    expect(parseEgressRule("*.pythonhosted.org")).toEqual({ host: "*.pythonhosted.org", privateOk: false });
    expect(parseEgressRule("nexus.example.com:8081")).toEqual({ host: "nexus.example.com", port: 8081, privateOk: false });
    expect(parseEgressRule("private:nexus.corp.example:8081")).toEqual({ host: "nexus.corp.example", port: 8081, privateOk: true });
    expect(parseEgressRule("127.0.0.1:4873")).toEqual({ host: "127.0.0.1", port: 4873, privateOk: true });
    expect(parseEgressRule("[::1]:4873")).toEqual({ host: "::1", port: 4873, privateOk: true });
  });
  test.each(["http://registry.npmjs.org", "registry npmjs", "host:port", "a.b:99999", "*"])("%j is refused with an example", (t) => {
    expect(() => parseEgressRule(t)).toThrow(/host name|port|is a URL/);
  });
  test("a rule without a port allows 443 and 80 only; a wildcard does not match its bare suffix", () => {
    const rules = parseEgressAllow(["registry.npmjs.org", "*.pythonhosted.org", "127.0.0.1:4873"]);
    expect(matchRule(rules, "registry.npmjs.org", 443)).toBeDefined();
    expect(matchRule(rules, "REGISTRY.npmjs.org.", 80)).toBeDefined();
    expect(matchRule(rules, "registry.npmjs.org", 22)).toBeUndefined();
    expect(matchRule(rules, "files.pythonhosted.org", 443)).toBeDefined();
    expect(matchRule(rules, "pythonhosted.org", 443)).toBeUndefined();
    expect(matchRule(rules, "evilpythonhosted.org", 443)).toBeUndefined();
    expect(matchRule(rules, "127.0.0.1", 4873)).toBeDefined();
    expect(matchRule(rules, "127.0.0.1", 6379)).toBeUndefined();
  });
  test("the defaults parse and name each ecosystem's public registry", () => {
    const rules = parseEgressAllow(DEFAULT_EGRESS_ALLOW);
    for (const host of ["registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "proxy.golang.org", "index.crates.io", "repo.maven.apache.org"]) {
      expect(matchRule(rules, host, 443)).toBeDefined();
    }
    expect(matchRule(rules, "github.com", 443)).toBeUndefined();
  });
});

describe("deciding before dialing", () => {
  const rules = parseEgressAllow(["registry.npmjs.org", "private:mirror.corp:8081", "127.0.0.1:4873"]);
  test.each([
    ["an unlisted name", "evil.example", 443, ["93.184.216.34"], "not-allowed"],
    ["an allowed name that resolves to loopback", "registry.npmjs.org", 443, ["127.0.0.1"], "private-address"],
    ["an allowed name that resolves to the metadata address", "registry.npmjs.org", 443, ["169.254.169.254"], "private-address"],
    ["an allowed name with one private answer among public ones (rebinding)", "registry.npmjs.org", 443, ["104.16.1.1", "10.0.0.7"], "private-address"],
    ["an allowed name that does not resolve", "registry.npmjs.org", 443, [], "unresolved"],
    ["the host's Redis", "127.0.0.1", 6379, ["127.0.0.1"], "not-allowed"],
    ["the metadata address itself", "169.254.169.254", 80, ["169.254.169.254"], "not-allowed"],
  ])("%s → refused (%s)", (_name, host, port, addresses, reason) => {
    expect(decideEgress(rules, host as string, port as number, addresses as string[])).toMatchObject({ ok: false, reason });
  });
  test("allowed: a public answer, a private mirror the operator named as private, an address literal", () => {
    expect(decideEgress(rules, "registry.npmjs.org", 443, ["104.16.1.1"])).toEqual({ ok: true, address: "104.16.1.1" });
    expect(decideEgress(rules, "mirror.corp", 8081, ["10.1.2.3"])).toEqual({ ok: true, address: "10.1.2.3" });
    expect(decideEgress(rules, "127.0.0.1", 4873, ["127.0.0.1"])).toEqual({ ok: true, address: "127.0.0.1" });
  });
});

describe("the proxy, with a test resolver and an instrumented dialer", () => {
  let upstream: Server;
  let upstreamPort: number;
  let proxy: EgressProxy;
  let dir: string;
  const dialed: string[] = [];
  const looked: string[] = [];
  // The test's own "internet": names resolve to whatever the test says.
  const names: Record<string, string[]> = {
    "registry.npmjs.org": ["104.16.1.1"],
    "evil.example": ["93.184.216.34"],
    "internal.registry.npmjs.org": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
  };

  beforeAll(async () => {
    upstream = createServer((req, res) => res.end(`upstream saw ${req.method} ${req.url} host=${req.headers.host} pa=${req.headers["proxy-authorization"] ?? "none"}`));
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    upstreamPort = (upstream.address() as AddressInfo).port;
    dir = mkdtempSync(join(tmpdir(), "egress-"));
    proxy = await startEgressProxy({
      rules: parseEgressAllow(["registry.npmjs.org", "*.registry.npmjs.org", "metadata.example"]),
      socketPath: join(dir, "egress.sock"),
      resolve: async (host) => (looked.push(host), names[host] ?? []),
      // Records the address; connects only to this test's loopback server, whatever was asked.
      dial: (address, port) => {
        dialed.push(`${address}:${port}`);
        return connect({ host: "127.0.0.1", port: upstreamPort });
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((r) => upstream.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A raw request to the proxy's Unix socket. */
  function viaProxy(raw: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s: Socket = connect(proxy.socketPath);
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
        // A tunnel stays open: once the tunnelled answer is in, we are done.
        if (/upstream saw/.test(out) || /^HTTP\/1\.1 (4|5)\d\d/.test(out)) setTimeout(() => s.end(), 20);
      });
      s.on("end", () => resolve(out));
      s.on("close", () => resolve(out));
      s.on("error", reject);
      s.write(raw);
    });
  }

  test("CONNECT to an allowed name → tunnelled to the address the proxy checked", async () => {
    dialed.length = 0;
    const out = await viaProxy("CONNECT registry.npmjs.org:443 HTTP/1.1\r\nhost: registry.npmjs.org:443\r\n\r\nGET /x HTTP/1.1\r\nhost: registry.npmjs.org\r\nconnection: close\r\n\r\n");
    expect(out).toMatch(/^HTTP\/1\.1 200 Connection Established/);
    expect(out).toContain("upstream saw GET /x host=registry.npmjs.org");
    expect(dialed).toEqual(["104.16.1.1:443"]);
  });

  test("a plain-HTTP request to an allowed name is forwarded, Proxy-* headers stripped", async () => {
    dialed.length = 0;
    const out = await viaProxy("GET http://registry.npmjs.org/pkg HTTP/1.1\r\nhost: registry.npmjs.org\r\nproxy-authorization: Basic eA==\r\nconnection: close\r\n\r\n");
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toContain("upstream saw GET /pkg host=registry.npmjs.org pa=none");
    expect(dialed).toEqual(["104.16.1.1:80"]);
  });

  test.each([
    ["an unlisted name", "evil.example:443", /evil\.example:443 is not an allowed registry/],
    ["an allowed wildcard name resolving to a private address", "internal.registry.npmjs.org:443", /resolves to 10\.0\.0\.5/],
    ["an allowed name resolving to the metadata address", "metadata.example:80", /resolves to 169\.254\.169\.254/],
    ["the host's loopback (Redis)", "127.0.0.1:6379", /127\.0\.0\.1:6379 is not an allowed registry/],
    ["a private address literal", "10.0.0.5:443", /not an allowed registry/],
    ["the metadata address literal", "169.254.169.254:80", /not an allowed registry/],
  ])("CONNECT to %s → 403, refused BEFORE dialing", async (_name, target, message) => {
    dialed.length = 0;
    const out = await viaProxy(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(out).toMatch(message);
    expect(dialed).toEqual([]);
  });

  test("a plain-HTTP request to a refused host → 403 before dialing; a non-proxy request → 400", async () => {
    dialed.length = 0;
    expect(await viaProxy("GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nhost: 169.254.169.254\r\nconnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 403/);
    expect(await viaProxy("GET /relative HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    expect(dialed).toEqual([]);
  });

  test("an unlisted name is refused without even a DNS lookup (a name can carry data out)", async () => {
    looked.length = 0;
    expect(await viaProxy("CONNECT c2VjcmV0.exfil.example:443 HTTP/1.1\r\nhost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 403/);
    expect(looked).toEqual([]);
    await viaProxy("CONNECT internal.registry.npmjs.org:443 HTTP/1.1\r\nhost: x\r\n\r\n");
    expect(looked).toEqual(["internal.registry.npmjs.org"]);
  });

  test("refusals are counted per host, with the reason, for the job card", () => {
    const report = proxy.report();
    expect(report.allowed).toBeGreaterThanOrEqual(2);
    const byHost = Object.fromEntries(report.refused.map((r) => [r.host, r]));
    expect(byHost["evil.example:443"]).toMatchObject({ count: 1, reason: expect.stringMatching(/not an allowed registry/) });
    expect(byHost["169.254.169.254:80"]?.count).toBe(2);
    expect(byHost["127.0.0.1:6379"]?.count).toBe(1);
  });
});


describe("the rules a worker runs with, and what the card says", () => {
  test("EGRESS_ALLOW unset: the defaults plus the operator's registries; `none`: nothing; a bad entry throws", () => {
    const rules = egressRulesFor(undefined, ["https://registry.npmjs.org/", "http://127.0.0.1:4873/", "https://npm.corp.example:8443/npm/"]);
    expect(matchRule(rules, "pypi.org", 443)).toBeDefined();
    expect(matchRule(rules, "127.0.0.1", 4873)).toMatchObject({ privateOk: true });
    expect(matchRule(rules, "npm.corp.example", 8443)).toMatchObject({ privateOk: false });
    expect(egressRulesFor("none", ["https://registry.npmjs.org/"])).toEqual([]);
    const only = egressRulesFor("registry.npmjs.org", []);
    expect(matchRule(only, "pypi.org", 443)).toBeUndefined();
    expect(() => egressRulesFor("http://x", [])).toThrow(/is a URL: write the host name/);
    expect(() => egressRulesFor(undefined, ["not a url"])).toThrow(/not a registry URL/);
  });

  test("refusals on the job card: host, count and reason, at most five, and what to do", () => {
    expect(describeEgressRefusals({ allowed: 3, refused: [] })).toBeUndefined();
    const text = describeEgressRefusals({
      allowed: 0,
      refused: [
        { host: "npm.pkg.github.com:443", count: 4, reason: "npm.pkg.github.com:443 is not an allowed registry" },
        ...Array.from({ length: 6 }, (_, i) => ({ host: `h${i}.example:443`, count: 1, reason: `h${i}.example:443 is not an allowed registry` })),
      ],
    })!;
    expect(text).toContain("`npm.pkg.github.com:443` (4×: is not an allowed registry)");
    expect(text).toContain("and 2 more");
    expect(text).toContain("EGRESS_ALLOW");
  });
});

describe("registries on the host's 127.0.0.1 are tunnelled from the sandbox's (for tools that never proxy loopback, such as go)", () => {
  test("the ports of 127.0.0.1 rules with a port; names, other addresses and the forwarder's own port are not", async () => {
    const { behindEgress, loopbackRegistryPorts, EGRESS_PORT } = await import("../../src/workspace/egress-forwarder.js");
    const rules = egressRulesFor("127.0.0.1:4873,127.0.0.1:4873,127.0.0.2:9000,registry.npmjs.org,private:mirror.corp:8081", ["http://127.0.0.1:3000/"]);
    expect(loopbackRegistryPorts(rules)).toEqual([4873, 3000]);
    expect(behindEgress("go mod download", "/usr/bin/node", "/bin/bash", [4873, EGRESS_PORT])).toBe(
      "exec '/usr/bin/node' /run/iquest/egress-forwarder.cjs 18080 /run/iquest/egress.sock 4873 /bin/bash -c 'go mod download'",
    );
    expect(behindEgress("npm ci", "/usr/bin/node", "/bin/bash")).toContain(" /run/iquest/egress.sock - /bin/bash -c 'npm ci'");
  });
});
