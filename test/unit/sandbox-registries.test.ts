import { describe, expect, test } from "@jest/globals";
import { envSchema } from "../../src/config/env.js";
import { goproxyUrls, operatorRegistries, sandboxRegistryEnv } from "../../src/config/sandbox-registries.js";
import { egressRulesFor } from "../../src/workspace/egress-rules.js";

describe("the operator's registries and mirrors, for the sandbox", () => {
  const env = {
    NPM_REGISTRY: "https://npm.mirror.example/",
    UPGRADE_REGISTRIES: "https://npm.pkg.github.com/acme, https://registry.acme.example",
    PIP_INDEX_URL: "https://pypi.mirror.example/simple/",
    GOPROXY: "https://goproxy.mirror.example|https://proxy.golang.org,direct",
  };

  test("GOPROXY's list: both separators; `direct` and `off` are not hosts", () => {
    expect(goproxyUrls(env.GOPROXY)).toEqual(["https://goproxy.mirror.example", "https://proxy.golang.org"]);
    expect(goproxyUrls("off")).toEqual([]);
    expect(goproxyUrls(undefined)).toEqual([]);
  });

  test("every registry and mirror is allowed through the egress proxy", () => {
    const hosts = egressRulesFor("none-of-the-defaults.example", operatorRegistries(env)).map((r) => r.host);
    expect(hosts).toEqual(["none-of-the-defaults.example", "npm.mirror.example", "npm.pkg.github.com", "registry.acme.example", "pypi.mirror.example", "goproxy.mirror.example", "proxy.golang.org"]);
  });

  test("pip, go and corepack are pointed at the mirrors; unset ones are left to the tools' defaults", () => {
    expect(sandboxRegistryEnv(env)).toEqual({
      COREPACK_NPM_REGISTRY: "https://npm.mirror.example",
      PIP_INDEX_URL: "https://pypi.mirror.example/simple/",
      GOPROXY: "https://goproxy.mirror.example|https://proxy.golang.org,direct",
    });
    expect(sandboxRegistryEnv({ NPM_REGISTRY: "https://registry.npmjs.org/" })).toEqual({ COREPACK_NPM_REGISTRY: "https://registry.npmjs.org" });
  });

  test("PIP_INDEX_URL: empty is unset (compose passes `${PIP_INDEX_URL:-}`), a non-URL refuses the start", () => {
    expect(envSchema.parse({ PIP_INDEX_URL: "" }).PIP_INDEX_URL).toBeUndefined();
    expect(envSchema.parse({ PIP_INDEX_URL: "https://pypi.mirror.example/simple/" }).PIP_INDEX_URL).toBe("https://pypi.mirror.example/simple/");
    expect(() => envSchema.parse({ PIP_INDEX_URL: "pypi.mirror.example" })).toThrow(/url/i);
  });
});

test("CARGO_INDEX_URL (a crates.io mirror, `sparse+` or not) is allowed through the egress proxy; empty is unset; COREPACK_INTEGRITY_KEYS passes to the sandbox only when set", () => {
  const env = { NPM_REGISTRY: "https://registry.npmjs.org/", CARGO_INDEX_URL: "sparse+https://crates.mirror.example/index/" };
  expect(egressRulesFor("none-of-the-defaults.example", operatorRegistries(env)).map((r) => r.host)).toContain("crates.mirror.example");
  expect(envSchema.parse({ CARGO_INDEX_URL: "" }).CARGO_INDEX_URL).toBeUndefined();
  expect(() => envSchema.parse({ CARGO_INDEX_URL: "crates.mirror.example" })).toThrow(/sparse index URL/);
  expect(sandboxRegistryEnv({ NPM_REGISTRY: "https://registry.npmjs.org/", COREPACK_INTEGRITY_KEYS: "0" })).toMatchObject({ COREPACK_INTEGRITY_KEYS: "0" });
  expect(sandboxRegistryEnv({ NPM_REGISTRY: "https://registry.npmjs.org/", COREPACK_INTEGRITY_KEYS: "" })).not.toHaveProperty("COREPACK_INTEGRITY_KEYS");
});
