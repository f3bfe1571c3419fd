import { describe, expect, test } from "@jest/globals";
import { loadEnv, secretsOf } from "../../src/config/env.js";
import { StartupError } from "../../src/shared/errors.js";
import { bypassesProxy, proxyEnvFor, proxyFor, proxySettingsFrom, redactProxy } from "../../src/shared/proxy.js";

/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY read as curl reads them (git's curl and the app's fetch must
 * agree on every host), plus `host:port` entries.
 */
describe("which variable applies", () => {
  test("per scheme; the lower-case name wins; ALL_PROXY fills in; a bare host:port is http://", () => {
    const s = proxySettingsFrom({ HTTPS_PROXY: "http://upper:3128", https_proxy: "http://lower:3128", HTTP_PROXY: "proxy.corp:8080" });
    expect(s.https?.href).toBe("http://lower:3128/");
    expect(s.http?.href).toBe("http://proxy.corp:8080/");
    expect(proxyFor("https://api.github.com/repos", s)?.host).toBe("lower:3128");
    expect(proxyFor("http://registry.local/x", s)?.host).toBe("proxy.corp:8080");
    expect(proxyFor("file:///tmp/x", s)).toBeUndefined();
    const all = proxySettingsFrom({ ALL_PROXY: "http://all:1" });
    expect(proxyFor("https://a.example/", all)?.host).toBe("all:1");
    expect(proxyFor("http://a.example/", all)?.host).toBe("all:1");
    expect(proxySettingsFrom({})).toEqual({ noProxy: [] });
    expect(proxySettingsFrom({ HTTPS_PROXY: "  " })).toEqual({ noProxy: [] });
  });

  test("a proxy that cannot be one is refused with the variable named and the password hidden", () => {
    expect(() => proxySettingsFrom({ HTTPS_PROXY: "socks5://p:1080" })).toThrow(/HTTPS_PROXY uses socks5:\/\/, but only http:\/\/ and https:\/\/ proxies are supported; fix the proxy variable and restart/);
    expect(() => proxySettingsFrom({ https_proxy: "http://user:s3cret@[bad" })).toThrow(/https_proxy="http:\/\/user:\*\*\*@\[bad" is not a URL/);
    expect(() => proxySettingsFrom({ https_proxy: "http://user:s3cret@[bad" })).not.toThrow(/s3cret/);
    expect(redactProxy("http://bob:pa55@proxy:3128/")).toBe("http://bob:***@proxy:3128/");
  });

  test("loadEnv: a bad proxy is a startup error; the proxy's password is a secret for the redactor; an unreadable CA file is a startup error", () => {
    expect(() => loadEnv({ HTTPS_PROXY: "ftp://x" })).toThrow(StartupError);
    const env = loadEnv({ HTTPS_PROXY: "http://bob:pa%2455@proxy:3128", NO_PROXY: "localhost,.corp" });
    expect(env.proxy.noProxy).toEqual(["localhost", ".corp"]);
    expect(secretsOf(env)).toContain("pa$55");
    expect(() => loadEnv({ NODE_EXTRA_CA_CERTS: "/nonexistent/ca.pem" })).toThrow(/NODE_EXTRA_CA_CERTS=\/nonexistent\/ca.pem cannot be read/);
    expect(() => loadEnv({ NODE_EXTRA_CA_CERTS: "/etc/hostname" })).toThrow(/holds no PEM certificate/);
  });
});

describe("NO_PROXY as curl reads it", () => {
  const cases: Array<[string, string, number, boolean]> = [
    // [NO_PROXY, host, port, goes direct]
    ["*", "anything.example", 443, true],
    ["example.com", "example.com", 443, true],
    ["example.com", "api.example.com", 443, true],
    ["example.com", "badexample.com", 443, false],
    [".example.com", "example.com", 443, true],
    [".example.com", "a.b.example.com", 443, true],
    ["*.example.com", "a.example.com", 443, true],
    ["EXAMPLE.com.", "Api.Example.COM", 443, true],
    ["example.com", "example.com.", 443, true],
    ["github.corp, localhost ,,127.0.0.1", "localhost", 80, true],
    ["github.corp localhost", "localhost", 80, true],
    ["10.0.0.0/8", "10.1.2.3", 443, true],
    ["10.0.0.0/8", "11.1.2.3", 443, false],
    // A CIDR is compared with IP literals only: no DNS lookup, as curl.
    ["10.0.0.0/8", "ten.example", 443, false],
    ["192.168.1.5", "192.168.1.5", 443, true],
    ["192.168.1.5", "192.168.1.50", 443, false],
    ["::1", "[::1]", 443, true],
    ["[::1]", "::1", 443, true],
    ["fd00::/8", "[fd12::1]", 443, true],
    ["fd00::/8", "[fe80::1]", 443, false],
    ["10.0.0.0/99", "10.0.0.1", 443, false],
    // Ports (beyond curl): the entry holds for that port only.
    ["registry.corp:8443", "registry.corp", 8443, true],
    ["registry.corp:8443", "registry.corp", 443, false],
    ["127.0.0.1:9000", "127.0.0.1", 9000, true],
    ["127.0.0.1:9000", "127.0.0.1", 9001, false],
    ["[::1]:9000", "::1", 9000, true],
    ["", "example.com", 443, false],
  ];
  test.each(cases)("NO_PROXY=%p: %s:%d direct? %p", (noProxy, host, port, direct) => {
    const entries = noProxy.split(/[\s,]+/).filter(Boolean);
    expect(bypassesProxy(host, port, entries)).toBe(direct);
  });

  test("proxyFor applies it, with the scheme's default port", () => {
    const s = proxySettingsFrom({ HTTPS_PROXY: "http://p:1", HTTP_PROXY: "http://p:1", NO_PROXY: "ghe.corp:443,models.corp" });
    expect(proxyFor("https://ghe.corp/api/v3", s)).toBeUndefined();
    expect(proxyFor("https://ghe.corp:8443/api/v3", s)?.host).toBe("p:1");
    expect(proxyFor("http://gpu1.models.corp:8000/v1", s)).toBeUndefined();
    expect(proxyFor("https://registry.npmjs.org/", s)?.host).toBe("p:1");
  });
});

test("git (curl) gets the decided proxies under curl's lower-case names, and NO_PROXY as given", () => {
  const env = proxyEnvFor(proxySettingsFrom({ HTTPS_PROXY: "http://p:3128", HTTP_PROXY: "http://q:3128", NO_PROXY: "localhost,10.0.0.0/8" }));
  expect(env).toEqual({ http_proxy: "http://q:3128/", https_proxy: "http://p:3128/", HTTPS_PROXY: "http://p:3128/", no_proxy: "localhost,10.0.0.0/8", NO_PROXY: "localhost,10.0.0.0/8" });
  expect(proxyEnvFor(proxySettingsFrom({}))).toEqual({});
});
